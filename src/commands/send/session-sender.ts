import type { Context } from '../../context.js';
import { RoomSender, type Target } from '../../messages/deliver.js';
import type { Session } from '../../session.js';

/** Sends events to a room as this session, encrypting with its crypto store where the room is encrypted. */
export function sessionSender(ctx: Context, session: Session, target: Target): RoomSender {
  return new RoomSender(session.client, target, () => ctx.crypto(session, { catchUp: true }), ctx.io.now);
}
