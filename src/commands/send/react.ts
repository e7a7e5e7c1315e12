/** `mx react ROOM EVENT_ID KEY`: an annotation (spec: "Event annotations and reactions"), encrypted where the room is. */
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { MatrixError } from '../../matrix/errors.js';
import { parseEventId, parseRoomRef } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { relatedEvent } from '../../messages/relations.js';
import { newTxnId, parseTxnId } from '../../messages/txn.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL, SHARE_KEYS_OPTION } from '../options.js';
import { shareKeysWith } from '../../share-keys-with.js';
import { sessionSender } from './session-sender.js';

export const reactCommand = defineCommand({
  command: 'react <room> <event> <key>',
  describe: 'React to an event (an m.annotation, usually an emoji) and print the reaction\'s event ID',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .positional('event', { type: 'string', demandOption: true, describe: 'the event ID ($...)' })
      .positional('key', { type: 'string', demandOption: true, describe: 'the reaction: an emoji, or any short text' })
      .option('txn-id', { type: 'string', nargs: 1, describe: 'transaction ID: re-running with the same ID does not react twice' })
      .option('share-keys-with', SHARE_KEYS_OPTION)
      .example("mx react '#ops:example.org' '$abc' 👍", ''),
  validate(args) {
    parseRoomRef(args.room);
    if (args.key.trim() === '') throw new UsageError('give the reaction KEY (an emoji, say)');
    const txnId = args.txnId === undefined ? undefined : parseTxnId(args.txnId);
    return { room: args.room, eventId: parseEventId(args.event, 'EVENT'), key: args.key, txnId, shareKeysWith: args.shareKeysWith };
  },
  async run(ctx, { room, eventId, key, txnId, shareKeysWith: flag }) {
    const shareWith = shareKeysWith(flag, ctx.io.env, ctx.config);
    const session = await ctx.session();
    const roomId = await resolveRoom(session.client, room);
    await relatedEvent(session.client, roomId, eventId, 'react to');
    const content = { 'm.relates_to': { rel_type: 'm.annotation', event_id: eventId, key } };
    try {
      const sent = await sessionSender(ctx, session, { roomId, eventType: 'm.reaction' }, shareWith).send(content, txnId ?? newTxnId(ctx.io.now()));
      await ctx.out.print({ ...sent, relates_to: eventId, key }, { text: (r) => r.event_id });
    } catch (error) {
      if (error instanceof MatrixError && error.errcode === 'M_DUPLICATE_ANNOTATION') {
        throw new MxError(`you already reacted to ${eventId} with ${key}`, ExitCode.conflict, error.details);
      }
      throw error;
    }
  },
});
