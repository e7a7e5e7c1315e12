/** `mx device list | rename | delete`: the user's devices (spec: "Device Management"). */
import type { Context } from '../../context.js';
import type { Session } from '../../session.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { deleteDevices, getDevices, renameDevice } from '../../matrix/devices.js';
import { explainMissingStages, passwordStage, withUserInteractiveAuth } from '../../matrix/uia.js';
import { ownDevicesCrossSigned } from '../../crypto/status.js';
import { dateOf } from '../../output/event-summary.js';
import { readSecret } from '../../secrets.js';
import { defineCommand } from '../command.js';
import { PASSWORD_STDIN_OPTION } from '../options.js';
import { assertDeviceForgettable, forgetDevice } from './forget.js';

/** Cross-signing of the user's devices, or undefined when this session has no crypto store to ask. */
async function crossSigned(ctx: Context, session: Session): Promise<Map<string, boolean> | undefined> {
  try {
    return await ownDevicesCrossSigned(await ctx.crypto(session));
  } catch (error) {
    if (error instanceof MxError && error.exitCode === ExitCode.encryption) return undefined;
    throw error;
  }
}

const list = defineCommand({
  command: 'list',
  aliases: ['ls'],
  describe: 'List your devices: ID, name, last seen, whether you cross-signed them (this one marked *)',
  async run(ctx) {
    const session = await ctx.session();
    const [devices, owner, signed] = await Promise.all([getDevices(session.client), session.whoAmI(), crossSigned(ctx, session)]);
    const rows = devices
      .map((d) => ({
        device_id: d.device_id,
        display_name: d.display_name ?? null,
        last_seen_ts: d.last_seen_ts ?? null,
        last_seen_ip: d.last_seen_ip ?? null,
        // null: this session cannot tell (no crypto store: MX_ACCESS_TOKEN alone).
        verified: signed ? (signed.get(d.device_id) ?? false) : null,
        current: d.device_id === owner.deviceId,
      }))
      .sort((a, b) => (b.last_seen_ts ?? 0) - (a.last_seen_ts ?? 0));
    await ctx.out.print(rows, {
      table: {
        head: ['', 'ID', 'NAME', 'LAST SEEN', 'VERIFIED'],
        rows: (all) =>
          all.map((d) => [
            d.current ? '*' : '',
            d.device_id,
            d.display_name ?? '',
            dateOf(d.last_seen_ts)?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '',
            d.verified === null ? '?' : d.verified ? 'yes' : 'no',
          ]),
      },
    });
  },
});

const rename = defineCommand({
  command: 'rename <device> <name>',
  describe: 'Set a device\'s display name',
  builder: (y) => y.positional('device', { type: 'string', demandOption: true }).positional('name', { type: 'string', demandOption: true }),
  validate(args) {
    if (!args.device) throw new UsageError('rename needs a device ID');
    return { device: args.device, name: args.name };
  },
  async run(ctx, { device, name }) {
    const session = await ctx.session();
    await renameDevice(session.client, device, name);
    await ctx.out.print({ device_id: device, display_name: name }, { text: (r) => `Renamed ${r.device_id} to "${r.display_name}"` });
  },
});

const remove = defineCommand({
  command: 'delete <devices..>',
  aliases: ['rm'],
  describe: 'Delete devices (logs them out; asks for your password). This device only with --force, and then it is a logout',
  builder: (y) =>
    y
      .positional('devices', { type: 'string', array: true, demandOption: true })
      .option('force', { type: 'boolean', default: false, describe: 'also delete the device this profile uses (a logout)' })
      .option('password-stdin', PASSWORD_STDIN_OPTION),
  validate(args) {
    const devices = [...new Set((args.devices ?? []).map(String))];
    if (devices.some((d) => d === '')) throw new UsageError('a device ID cannot be empty');
    return { devices, force: args.force, passwordStdin: Boolean(args.passwordStdin) };
  },
  async run(ctx, { devices, force, passwordStdin }) {
    const session = await ctx.session();
    const { userId, deviceId: current } = await session.whoAmI();
    const deletesCurrent = current !== undefined && devices.includes(current);
    if (deletesCurrent && !force) {
      throw new UsageError(`${current} is the device this profile uses: deleting it logs mx out (--force does that; mx logout is the usual way)`);
    }
    if (deletesCurrent) await assertDeviceForgettable(ctx, session);
    const password = () => readSecret(ctx.io, { fromStdin: passwordStdin, envVar: 'MX_PASSWORD', what: 'password', stdinFlag: '--password-stdin' });
    await withUserInteractiveAuth((auth) => deleteDevices(session.client, devices, auth), passwordStage(userId, password), explainMissingStages('deleting devices'));
    if (deletesCurrent) await forgetDevice(ctx, session);
    await ctx.out.print({ deleted: devices, logged_out: deletesCurrent }, {
      text: (r) => `Deleted ${r.deleted.join(', ')}${r.logged_out ? ' (this profile is logged out now: mx login logs in again)' : ''}`,
    });
  },
});

export const deviceCommand = defineCommand({
  command: 'device',
  describe: 'Your devices: list, rename, delete',
  subcommands: [list, rename, remove],
});
