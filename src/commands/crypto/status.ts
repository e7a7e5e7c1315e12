/** `mx crypto status`: this device's keys, and the account's cross-signing, secret storage and backup. */
import { cryptoStatus, trustConsequence, type CryptoStatus } from '../../crypto/status.js';
import { ownProfile } from '../../session.js';
import { defineCommand } from '../command.js';

export const statusCommand = defineCommand({
  command: 'status',
  describe: "This device's keys and whether its owner cross-signed it; the account's cross-signing, secret storage and key backup",
  async run(ctx) {
    const session = await ctx.session();
    const status = await cryptoStatus(await ctx.crypto(session));
    const trust = { accountHasCrossSigning: status.cross_signing.on_account, deviceCrossSigned: status.cross_signed };
    await ctx.out.print({ ...status, trust: trustConsequence(trust, ownProfile(session)) }, { text: statusText });
  },
});

function statusText(s: CryptoStatus & { trust: string }): string {
  const held = (['master', 'self_signing', 'user_signing'] as const).filter((k) => s.cross_signing[k]);
  return [
    `user: ${s.user_id}`,
    `device: ${s.device_id}`,
    `  ed25519: ${s.ed25519}`,
    `  curve25519: ${s.curve25519}`,
    `  cross-signed by its owner: ${yesNo(s.cross_signed)}`,
    `cross-signing on the account: ${yesNo(s.cross_signing.on_account)}${s.cross_signing.on_account ? ` (private keys here: ${held.length ? held.join(', ') : 'none'})` : ''}`,
    `secret storage: ${s.secret_storage.on_account ? `yes (key ${s.secret_storage.default_key})` : 'no'}`,
    `key backup: ${s.backup.version ? `version ${s.backup.version}` : 'none'}${s.backup.backing_up_to ? `, this device backs up to version ${s.backup.backing_up_to}` : ''}`,
    `room keys here: ${s.room_keys.stored} (${s.room_keys.backed_up} backed up)`,
    '',
    capitalised(s.trust),
  ].join('\n');
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const yesNo = (value: boolean) => (value ? 'yes' : 'no');
