/** `mx read ROOM [EVENT_ID]` and `mx typing ROOM`: what a bot tells a room about its reading and writing. */
import { UsageError } from '../../errors.js';
import { parseEventId, parseRoomRef } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { getRoomEvents, setReadMarkers, setTyping } from '../../matrix/rooms.js';
import { relatedEvent } from '../../messages/relations.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL } from '../options.js';
import { wholeNumber } from '../../flag-numbers.js';

export const readCommand = defineCommand({
  command: 'read <room> [event]',
  describe: 'Mark a room read up to an event (the latest by default): a read receipt and the fully-read marker',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .positional('event', { type: 'string', describe: 'the event ID ($...); default: the latest event' })
      .option('private', { type: 'boolean', describe: 'a private receipt (m.read.private): only your own clients see it' }),
  validate(args) {
    parseRoomRef(args.room);
    return { room: args.room, eventId: args.event === undefined ? undefined : parseEventId(args.event, 'EVENT'), receipt: args.private ? 'm.read.private' as const : 'm.read' as const };
  },
  async run(ctx, { room, eventId, receipt }) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, room);
    let target = eventId;
    if (target === undefined) {
      target = (await getRoomEvents(client, roomId, { dir: 'b', limit: 1 })).chunk[0]?.event_id;
      if (!target) throw new UsageError(`${roomId} has no event to mark read`);
    } else {
      await relatedEvent(client, roomId, target, 'mark read up to', { allowRedacted: true });
    }
    await setReadMarkers(client, roomId, target, receipt);
    await ctx.out.print({ room_id: roomId, event_id: target, receipt }, { text: (r) => `Marked ${r.room_id} read up to ${r.event_id}` });
  },
});

const DEFAULT_TYPING_MS = 30_000;

export const typingCommand = defineCommand({
  command: 'typing <room>',
  describe: `Show others that you are typing (for --timeout MS, default ${DEFAULT_TYPING_MS}), or --stop`,
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .option('timeout', { type: 'number', describe: `how long the notice lasts, in ms (default ${DEFAULT_TYPING_MS})` })
      .option('stop', { type: 'boolean', describe: 'stop showing it' })
      .conflicts('stop', 'timeout'),
  validate(args) {
    parseRoomRef(args.room);
    wholeNumber(args.timeout, '--timeout', { min: 1, max: 600_000, unit: 'milliseconds' });
    return { room: args.room, timeoutMs: args.stop ? undefined : (args.timeout ?? DEFAULT_TYPING_MS) };
  },
  async run(ctx, { room, timeoutMs }) {
    const session = await ctx.session();
    const roomId = await resolveRoom(session.client, room);
    await setTyping(session.client, roomId, (await session.whoAmI()).userId, timeoutMs);
    await ctx.out.print({ room_id: roomId, typing: timeoutMs !== undefined, ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}) }, {
      text: (r) => (r.typing ? `Typing in ${r.room_id} for ${r.timeout} ms` : `Stopped typing in ${r.room_id}`),
    });
  },
});
