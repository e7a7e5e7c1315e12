import { ExitCode, MxError, UsageError } from '../../errors.js';
import { register, type Session } from '../../matrix/account.js';
import { parseUserArgument } from '../../matrix/identifiers.js';
import { withUserInteractiveAuth, type StageHandler } from '../../matrix/uia.js';
import { readSecret } from '../../secrets.js';
import { withSpinner } from '../../output/spinner.js';
import { assertProfileFree, saveNewSession, sessionSummary } from '../../profiles/sessions.js';
import { profileIn } from '../../profiles/store.js';
import { defineCommand } from '../command.js';
import { DEVICE_NAME_OPTION, PASSWORD_STDIN_OPTION, REFRESH_OPTION, USER_POSITIONAL } from '../options.js';
import { startDeviceEncryption } from './device-encryption.js';

/** The UIA stages mx can complete for registration. */
function stageHandlers(registrationToken: string | undefined): Record<string, StageHandler> {
  const handlers: Record<string, StageHandler> = { 'm.login.dummy': () => ({}) };
  if (registrationToken) handlers['m.login.registration_token'] = () => ({ token: registrationToken });
  return handlers;
}

function explainMissing(missing: string[], flows: string[][]): MxError {
  if (missing.length === 1 && missing[0] === 'm.login.registration_token') {
    return new UsageError('this homeserver needs a registration token: pass --registration-token TOKEN or set MX_REGISTRATION_TOKEN');
  }
  const offered = flows.map((stages) => stages.join(' + ') || '(none)').join(' | ');
  return new MxError(
    `registration needs auth mx cannot complete (${missing.join(', ')}); the server offers: ${offered}. ` +
      'mx can do m.login.dummy and m.login.registration_token; register another way (e.g. the web client) and use mx login',
    ExitCode.forbidden,
  );
}

export const registerCommand = defineCommand({
  command: 'register [user]',
  describe: 'Create an account (or a guest account) and save it as a profile',
  builder: (y) =>
    y
      .positional('user', USER_POSITIONAL)
      .option('password-stdin', PASSWORD_STDIN_OPTION)
      .option('guest', { type: 'boolean', describe: 'register a guest account (no user name or password)' })
      .option('device-name', DEVICE_NAME_OPTION)
      .option('refresh', REFRESH_OPTION)
      .option('registration-token', { type: 'string', describe: 'token for servers that require one (or MX_REGISTRATION_TOKEN)' })
      .conflicts('guest', ['user', 'password-stdin']),
  validate(args) {
    if (!args.guest && !args.user) throw new UsageError('register needs a user name (or --guest)');
    return { ...args, localpart: args.user ? parseUserArgument(args.user).localpart : undefined };
  },
  async run(ctx, args) {
    const profileName = await ctx.sessions.profileName();
    const existing = profileIn(await ctx.storeData(), profileName);
    assertProfileFree(existing, profileName, undefined);
    const homeserver = await ctx.sessions.loginHomeserver(profileName, args.user);
    const client = { ...ctx.plumbing(), baseUrl: homeserver };
    await ctx.store.assertWritable('nothing was registered');

    let session: Session;
    if (args.guest) {
      session = await withSpinner(ctx.io, !ctx.out.isJson, 'Registering a guest', () =>
        register(client, { initial_device_display_name: args.deviceName, ...(args.refresh ? { refresh_token: true } : {}) }, 'guest'),
      );
    } else {
      const password = await readSecret(ctx.io, {
        fromStdin: Boolean(args.passwordStdin), envVar: 'MX_PASSWORD', what: 'password', stdinFlag: '--password-stdin', confirm: true,
      });
      const token = args.registrationToken ?? ctx.io.env.MX_REGISTRATION_TOKEN;
      const body = { username: args.localpart, password, initial_device_display_name: args.deviceName, ...(args.refresh ? { refresh_token: true } : {}) };
      session = await withSpinner(ctx.io, !ctx.out.isJson, `Registering ${args.localpart}`, () =>
        withUserInteractiveAuth((auth) => register(client, auth ? { ...body, auth } : body), stageHandlers(token), explainMissing),
      );
    }
    const previous = await saveNewSession(client, ctx.store, profileName, session, ctx.io.now(), args.guest ? { isGuest: true } : {});
    await startDeviceEncryption(ctx, profileName, previous);
    await ctx.out.print(sessionSummary(profileName, homeserver, session), {
      text: (s, c) => `Registered ${c.bold(s.user_id)} (device ${s.device_id}) on ${s.homeserver}; saved as profile "${s.profile}"`,
    });
  },
});
