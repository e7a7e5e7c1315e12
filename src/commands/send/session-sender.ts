import type { Context } from '../../context.js';
import type { WithheldFrom } from '../../crypto/key-sharing.js';
import { RoomSender, type Target } from '../../messages/deliver.js';
import type { Session } from '../../session.js';
import type { ShareKeysWith } from '../../share-keys-with.js';

/**
 * Sends events to a room as this session, encrypting with its crypto store where the room is
 * encrypted and sharing room keys as `shareWith` says. An encrypted message some members'
 * devices got no key for is said on stderr (once while it stays the same, for --lines).
 */
export function sessionSender(ctx: Context, session: Session, target: Target, shareWith: ShareKeysWith): RoomSender {
  let said = '';
  const onSent = (withheld: WithheldFrom[]) => {
    const line = withheld.length > 0 ? withheldLine(withheld, shareWith) : '';
    if (line && line !== said) ctx.warn(line);
    said = line;
  };
  return new RoomSender(session.client, target, () => ctx.crypto(session, { catchUp: true }), ctx.io.now, { shareWith, onSent });
}

/** Users named at most in the line (the JSON answer has them all). */
const USERS_SHOWN = 5;

/**
 * `the room key was not shared with 3 devices of 2 users: @bob:x (BOB1, BOB2: not cross-signed
 * by its owner), @carol:x (C1: its owner has no cross-signing); they cannot read this message`
 */
export function withheldLine(withheld: WithheldFrom[], shareWith: ShareKeysWith): string {
  const byUser = new Map<string, Map<string, string[]>>();
  for (const d of withheld) {
    const reasons = byUser.get(d.user_id) ?? new Map<string, string[]>();
    reasons.set(d.reason, [...(reasons.get(d.reason) ?? []), d.device_id]);
    byUser.set(d.user_id, reasons);
  }
  const users = [...byUser].slice(0, USERS_SHOWN).map(([user, reasons]) =>
    `${user} (${[...reasons].map(([reason, devices]) => `${devices.join(', ')}: ${reason}`).join('; ')})`,
  );
  if (byUser.size > USERS_SHOWN) users.push(`and ${byUser.size - USERS_SHOWN} more`);
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const hint = shareWith === 'cross-signed' && withheld.some((d) => d.code === 'm.unverified')
    ? ' (--share-keys-with all shares with devices that are not cross-signed too)'
    : '';
  return `the room key was not shared with ${count(withheld.length, 'device')} of ${count(byUser.size, 'user')}: ${users.join(', ')}; ` +
    `they cannot read this message${hint}`;
}
