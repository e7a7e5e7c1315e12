/** `mx redact ROOM EVENT_ID [--reason R]`: removes an event's content (spec: "Redactions"). */
import { parseEventId, parseRoomRef } from '../../matrix/identifiers.js';
import { redactEvent } from '../../matrix/events.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { relatedEvent } from '../../messages/relations.js';
import { newTxnId, parseTxnId } from '../../messages/txn.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL } from '../options.js';

export const redactCommand = defineCommand({
  command: 'redact <room> <event>',
  describe: 'Redact an event (remove its content for everyone) and print the redaction\'s event ID',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .positional('event', { type: 'string', demandOption: true, describe: 'the event ID ($...)' })
      .option('reason', { type: 'string', nargs: 1, describe: 'why (shown to others)' })
      .option('txn-id', { type: 'string', nargs: 1, describe: 'transaction ID: a retry or re-run with the same ID redacts once' }),
  validate(args) {
    parseRoomRef(args.room);
    return { room: args.room, eventId: parseEventId(args.event, 'EVENT'), reason: args.reason, txnId: args.txnId === undefined ? undefined : parseTxnId(args.txnId) };
  },
  async run(ctx, { room, eventId, reason, txnId }) {
    const session = await ctx.session();
    const roomId = await resolveRoom(session.client, room);
    const txn = txnId ?? newTxnId(ctx.io.now());
    const print = (result: { event_id: string; already_redacted?: boolean }) =>
      ctx.out.print({ ...result, room_id: roomId, redacts: eventId, txn_id: txn }, { text: (r) => r.event_id });
    const event = await relatedEvent(session.client, roomId, eventId, 'redact', { allowRedacted: true });
    // Redacting twice changes nothing: a script that re-runs its clean-up succeeds.
    const by = (event.unsigned?.redacted_because as { event_id?: string } | undefined)?.event_id;
    await print(by ? { event_id: by, already_redacted: true } : await redactEvent(session.client, roomId, eventId, txn, reason));
  },
});
