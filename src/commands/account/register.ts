import type { Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { register, type Session } from '../../matrix/account.js';
import { parseUserArgument } from '../../matrix/identifiers.js';
import type { MatrixClient } from '../../matrix/http.js';
import { withUserInteractiveAuth, type StageHandler } from '../../matrix/uia.js';
import { openPrivateFile, type PrivateFile } from '../../output/files.js';
import { readSecret } from '../../secrets.js';
import { withSpinner } from '../../output/spinner.js';
import { assertProfileFree, saveNewSession, sessionSummary } from '../../profiles/sessions.js';
import { profileIn } from '../../profiles/store.js';
import { defineCommand } from '../command.js';
import { DEVICE_NAME_OPTION, PASSWORD_STDIN_OPTION, REFRESH_OPTION, USER_POSITIONAL } from '../options.js';
import { startDeviceEncryption } from './device-encryption.js';
import { accountSetUpLater, RECOVERY_KEY_FILE_TO_WRITE, trustNewAccount, type DeviceTrustReport } from './device-trust.js';

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

interface RegisterOptions {
  user?: string;
  localpart?: string;
  guest?: boolean;
  passwordStdin?: boolean;
  deviceName?: string;
  refresh?: boolean;
  registrationToken?: string;
  cryptoSetup: boolean;
  recoveryKeyFile?: string;
}

export const registerCommand = defineCommand({
  command: 'register [user]',
  describe: 'Create an account (or a guest account) and save it as a profile; its device is verified from the start',
  builder: (y) =>
    y
      .positional('user', USER_POSITIONAL)
      .option('password-stdin', PASSWORD_STDIN_OPTION)
      .option('guest', { type: 'boolean', describe: 'register a guest account (no user name or password)' })
      .option('device-name', DEVICE_NAME_OPTION)
      .option('refresh', REFRESH_OPTION)
      .option('registration-token', { type: 'string', describe: 'token for servers that require one (or MX_REGISTRATION_TOKEN)' })
      .option('crypto-setup', {
        type: 'boolean',
        default: true,
        describe: 'set up cross-signing, secret storage with a new recovery key, and a key backup, so that the device is verified from its first message (--no-crypto-setup: do not)',
      })
      .option('recovery-key-file', RECOVERY_KEY_FILE_TO_WRITE)
      .conflicts('guest', ['user', 'password-stdin']),
  validate(args): RegisterOptions {
    if (!args.guest && !args.user) throw new UsageError('register needs a user name (or --guest)');
    if (args.recoveryKeyFile === '') throw new UsageError('--recovery-key-file needs a file name');
    if (args.recoveryKeyFile !== undefined && !args.cryptoSetup) throw new UsageError('--recovery-key-file is for the crypto set-up, which --no-crypto-setup skips');
    return { ...args, localpart: args.user ? parseUserArgument(args.user).localpart : undefined };
  },
  async run(ctx, args) {
    const profileName = await ctx.sessions.profileName();
    const existing = profileIn(await ctx.storeData(), profileName);
    assertProfileFree(existing, profileName, undefined);
    const homeserver = await ctx.sessions.loginHomeserver(profileName, args.user);
    const client = { ...ctx.plumbing(), baseUrl: homeserver };
    await ctx.store.assertWritable('nothing was registered');
    // Taken first: the name is reserved (and known writable) before the account exists.
    const recoveryKeyFile = args.recoveryKeyFile === undefined ? undefined : await openPrivateFile(ctx.io.cwd, args.recoveryKeyFile, { keepExisting: { replaceFlag: 'removing it first' } });
    try {
      await registerAndTrust(ctx, args, { profileName, homeserver, client, recoveryKeyFile });
    } catch (error) {
      await recoveryKeyFile?.abandon();
      throw error;
    }
  },
});

interface Registration {
  profileName: string;
  homeserver: string;
  client: MatrixClient;
  recoveryKeyFile: PrivateFile | undefined;
}

/** Registers, saves the profile, starts the device's encryption and (unless told not to) sets up the account's trust. */
async function registerAndTrust(ctx: Context, args: RegisterOptions, { profileName, homeserver, client, recoveryKeyFile }: Registration): Promise<void> {
  let session: Session;
  let password: string | undefined;
  if (args.guest) {
    session = await withSpinner(ctx.io, !ctx.out.isJson, 'Registering a guest', () =>
      register(client, { initial_device_display_name: args.deviceName, ...(args.refresh ? { refresh_token: true } : {}) }, 'guest'),
    );
  } else {
    password = await readSecret(ctx.io, {
      fromStdin: Boolean(args.passwordStdin), envVar: 'MX_PASSWORD', what: 'password', stdinFlag: '--password-stdin', confirm: true,
    });
    const token = args.registrationToken ?? ctx.io.env.MX_REGISTRATION_TOKEN;
    const body = { username: args.localpart, password, initial_device_display_name: args.deviceName, ...(args.refresh ? { refresh_token: true } : {}) };
    session = await withSpinner(ctx.io, !ctx.out.isJson, `Registering ${args.localpart}`, () =>
      withUserInteractiveAuth((auth) => register(client, auth ? { ...body, auth } : body), stageHandlers(token), explainMissing),
    );
  }
  const previous = await saveNewSession(client, ctx.store, profileName, session, ctx.io.now(), args.guest ? { isGuest: true } : {});
  const encrypting = await startDeviceEncryption(ctx, profileName, previous);
  let encryption: DeviceTrustReport | undefined;
  if (args.cryptoSetup) {
    encryption = encrypting ? await trustNewAccount(ctx, profileName, { password, recoveryKeyFile }) : accountSetUpLater(ctx, profileName, 'the device has no encryption yet');
  }
  await ctx.out.print({ ...sessionSummary(profileName, homeserver, session), ...(encryption ? { encryption } : {}) }, {
    text: (s, c) => `Registered ${c.bold(s.user_id)} (device ${s.device_id}) on ${s.homeserver}; saved as profile "${s.profile}"`,
  });
}
