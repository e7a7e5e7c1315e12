import type { Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { getLoginFlows, getTokenOwner, login, type Session } from '../../matrix/account.js';
import { MatrixError } from '../../matrix/errors.js';
import type { MatrixClient } from '../../matrix/http.js';
import { parseUserArgument, printable } from '../../matrix/identifiers.js';
import { openBrowser, ssoProviders, startSsoCallback } from '../../matrix/sso.js';
import { withSpinner } from '../../output/spinner.js';
import { readSecret, readSecretFromStdin } from '../../secrets.js';
import { assertDeviceFree, assertProfileFree, saveNewSession, saveSession, sessionSummary } from '../../profiles/sessions.js';
import { isTokenText } from '../../profiles/check.js';
import { profileIn } from '../../profiles/store.js';
import { defineCommand } from '../command.js';
import { DEVICE_NAME_OPTION, PASSWORD_STDIN_OPTION, REFRESH_OPTION, USER_POSITIONAL } from '../options.js';
import { startDeviceEncryption } from './device-encryption.js';
import { trustNewDevice } from './device-trust.js';
import { seconds } from '../../flag-numbers.js';

interface LoginArgs {
  user?: string;
  passwordStdin?: boolean;
  token?: boolean;
  sso?: boolean;
  idp?: string;
  browser: boolean;
  ssoTimeout: number;
  withToken?: boolean;
  deviceName: string;
  deviceId?: string;
  refresh: boolean;
  recoveryKeyFile?: string;
}

export const loginCommand = defineCommand({
  command: 'login [user]',
  describe: 'Log in and save the session as a profile',
  builder: (y) =>
    y
      .positional('user', USER_POSITIONAL)
      .option('password-stdin', PASSWORD_STDIN_OPTION)
      .option('token', { type: 'boolean', describe: 'log in with an m.login.token read from stdin (or MX_LOGIN_TOKEN)' })
      .option('with-token', { type: 'boolean', describe: 'adopt an existing access token read from stdin' })
      .option('device-name', DEVICE_NAME_OPTION)
      .option('device-id', { type: 'string', describe: 're-use this device ID' })
      .option('refresh', REFRESH_OPTION)
      .option('sso', { type: 'boolean', describe: 'single sign-on: sign in in a browser (mx prints the page, and opens it on a desktop)' })
      .option('idp', { type: 'string', nargs: 1, describe: 'with --sso: this identity provider (its ID, as the server lists them)' })
      .option('browser', { type: 'boolean', default: true, describe: 'with --sso: open the page in the desktop\'s browser (--no-browser: only print it)' })
      .option('sso-timeout', { type: 'number', default: 300, describe: 'with --sso: give up after this many seconds without a sign-in' })
      .option('recovery-key-file', {
        type: 'string',
        describe: "verify the new device in the same step with the account's recovery key from this file (or MX_RECOVERY_KEY, or the key mx kept on this machine)",
      })
      .conflicts('token', ['with-token', 'password-stdin', 'sso'])
      .conflicts('with-token', ['password-stdin', 'device-id', 'sso'])
      .conflicts('sso', 'password-stdin'),
  validate(args) {
    if (args.user) parseUserArgument(args.user);
    if (args.user && args.sso) throw new UsageError('with --sso, the browser says who signs in: leave out the user name');
    if (args.idp !== undefined && !args.sso) throw new UsageError('--idp is for --sso');
    seconds(args.ssoTimeout, '--sso-timeout', { min: 0, above: true });
    if (args.recoveryKeyFile === '') throw new UsageError('--recovery-key-file needs a file name');
    return args;
  },
  async run(ctx, args) {
    const profileName = await ctx.sessions.profileName();
    const profile = profileIn(await ctx.storeData(), profileName);
    // The profile's own user by its localpart (`mx login alice` after a logout elsewhere) is that user.
    const explicit = ctx.sessions.explicitHomeserver();
    const sameLocalpart = args.user !== undefined && !args.user.startsWith('@') && profile?.userId?.startsWith(`@${args.user}:`) &&
      (explicit === undefined || explicit === profile.homeserver);
    const user = sameLocalpart ? profile!.userId : (args.user ?? profile?.userId);
    assertProfileFree(profile, profileName, user?.startsWith('@') ? user : undefined);
    const homeserver = await ctx.sessions.loginHomeserver(profileName, user);
    const client = { ...ctx.plumbing(), baseUrl: homeserver };
    await ctx.store.assertWritable('nothing was logged in');

    // Logging in again as the profile's user (logged out elsewhere, a session that ran out) comes
    // back on the profile's device: its encryption identity and room keys stay usable.
    const reusable = profile?.deviceId && profile.cryptoKey && profile.userId === user ? profile.deviceId : undefined;
    const deviceArgs = { ...args, deviceId: args.deviceId ?? reusable };
    // Checked before the login too: logging in on another profile's device would end its session.
    if (deviceArgs.deviceId && user?.startsWith('@')) assertDeviceFree(await ctx.storeData(), profileName, homeserver, user, deviceArgs.deviceId);
    const session = args.withToken ? await adoptToken(ctx, client, user) : await loginWithFlow(ctx, client, deviceArgs, user);
    // A new login that cannot be saved (signed in as someone other than the profile's user with
    // SSO or a login token, a store that failed) is logged out again. An adopted token was made
    // elsewhere: it is not mx's to log out.
    const previous = args.withToken
      ? await saveSession(ctx.store, profileName, homeserver, session, ctx.io.now())
      : await saveNewSession(client, ctx.store, profileName, session, ctx.io.now());
    const encrypting = await startDeviceEncryption(ctx, profileName, previous);
    const encryption = encrypting ? await trustNewDevice(ctx, profileName, { recoveryKeyFile: args.recoveryKeyFile }) : undefined;
    await ctx.out.print({ ...sessionSummary(profileName, homeserver, session), ...(encryption ? { encryption } : {}) }, {
      text: (s, c) =>
        `Logged in as ${c.bold(s.user_id)} (device ${s.device_id}) on ${s.homeserver}; saved as profile "${s.profile}"` +
        (s.encryption?.recovered ? `. The device is verified (with ${s.encryption.recovered.with})` : ''),
    });
  },
});

/** As the spec's login flow says: ask the server which login types it offers, then use one. */
async function loginWithFlow(ctx: Context, client: MatrixClient, args: LoginArgs, user: string | undefined): Promise<Session> {
  if (args.sso) return loginWithSso(ctx, client, args, await getLoginFlows(client));
  const type = args.token ? 'm.login.token' : 'm.login.password';
  if (!args.token && !user) throw new UsageError('login needs a user name (or --sso, --token, --with-token)');
  const flows = await getLoginFlows(client);
  if (!flows.some((flow) => flow.type === type)) {
    const offered = flows.map((flow) => flow.type).join(', ') || 'none';
    const ways = [
      flows.some((flow) => flow.type === 'm.login.sso') && 'mx login --sso (single sign-on in a browser)',
      flows.some((flow) => flow.type === 'm.login.token') && type !== 'm.login.token' && 'mx login --token (a login token from stdin)',
    ].filter(Boolean);
    throw new MxError(
      `${client.baseUrl} does not offer ${type === 'm.login.password' ? 'password login' : type} (it offers: ${offered})` +
        (ways.length ? `; log in with ${ways.join(', or ')}, or adopt a token with mx login --with-token` : '; adopt a token made elsewhere with mx login --with-token'),
      ExitCode.auth,
    );
  }
  const secret = args.token
    ? await readSecret(ctx.io, { fromStdin: !ctx.io.env.MX_LOGIN_TOKEN, envVar: 'MX_LOGIN_TOKEN', what: 'login token', stdinFlag: '--token' })
    : await readSecret(ctx.io, { fromStdin: Boolean(args.passwordStdin), envVar: 'MX_PASSWORD', what: 'password', stdinFlag: '--password-stdin' });
  return submitLogin(ctx, client, args, args.token ? { type, token: secret } : { type, identifier: { type: 'm.id.user', user }, password: secret });
}

/** POST /login with the credentials, the device and the refresh token asked for. */
async function submitLogin(ctx: Context, client: MatrixClient, args: LoginArgs, credentials: Record<string, unknown> & { type: string }): Promise<Session> {
  const body = {
    ...credentials,
    initial_device_display_name: args.deviceName,
    ...(args.deviceId ? { device_id: args.deviceId } : {}),
    ...(args.refresh ? { refresh_token: true } : {}),
  };
  try {
    return await withSpinner(ctx.io, !ctx.out.isJson, 'Logging in', () => login(client, body));
  } catch (error) {
    // The spec answers a wrong password (or unknown user) with 403 M_FORBIDDEN.
    if (error instanceof MatrixError && error.errcode === 'M_FORBIDDEN') {
      throw new MxError(`login failed: ${credentials.type === 'm.login.token' ? 'invalid login token' : 'wrong user name or password'} (M_FORBIDDEN)`, ExitCode.auth, error.details);
    }
    throw error;
  }
}

/** --sso: the browser signs in at the identity provider; the login token comes back to a loopback port. */
async function loginWithSso(ctx: Context, client: MatrixClient, args: LoginArgs, flows: { type: string }[]): Promise<Session> {
  const providers = ssoProviders(flows);
  if (!providers) {
    throw new MxError(`${client.baseUrl} offers no single sign-on (it offers: ${flows.map((f) => f.type).join(', ') || 'none'})`, ExitCode.auth);
  }
  if (args.idp !== undefined && providers.length > 0 && !providers.some((p) => p.id === args.idp)) {
    throw new UsageError(`no identity provider "${printable(args.idp)}" on ${client.baseUrl}; it has: ${providers.map((p) => `${p.id} (${p.name})`).join(', ')}`);
  }
  const callback = await startSsoCallback(client.baseUrl, args.idp, args.ssoTimeout * 1000, ctx.io.signal);
  try {
    const opened = args.browser && openBrowser(callback.url, ctx.io.env);
    ctx.out.notice(`${opened ? 'Sign in in the browser that opened, or open' : 'Open'} this page to sign in: ${callback.url}`, { url: callback.url });
    const token = await callback.loginToken;
    return await submitLogin(ctx, client, args, { type: 'm.login.token', token });
  } finally {
    callback.close();
  }
}

/** --with-token: check an access token from stdin with whoami, then keep it. */
async function adoptToken(ctx: Context, client: MatrixClient, user: string | undefined): Promise<Session> {
  const accessToken = await readSecretFromStdin(ctx.io, 'access token');
  if (!isTokenText(accessToken)) throw new UsageError('the access token on stdin holds spaces or control characters: give the token alone');
  const owner = await getTokenOwner({ ...client, accessToken });
  if (user?.startsWith('@') && owner.user_id !== user) {
    throw new MxError(`that token belongs to ${owner.user_id}, not ${user}`, ExitCode.auth);
  }
  return { user_id: owner.user_id, device_id: owner.device_id ?? '', access_token: accessToken };
}
