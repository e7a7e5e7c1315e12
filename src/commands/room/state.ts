/** `mx room state ROOM [TYPE [STATE_KEY]]`: the room's state, or one state event's content. */
import { ExitCode, MxError } from '../../errors.js';
import { parseEventType, parseRoomRef } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { getRoomState, getRoomStateWithKey } from '../../matrix/rooms.js';
import { isRecord } from '../../matrix/shape.js';
import { shown } from '../../output/safe-text.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL } from '../options.js';

export const roomStateCommand = defineCommand({
  command: 'state <room> [type] [state-key]',
  describe: 'Show the room\'s current state (every state event), or the content of one (TYPE, STATE_KEY default "")',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .positional('type', { type: 'string', describe: 'a state event type, e.g. m.room.power_levels' })
      .positional('state-key', { type: 'string', describe: 'its state key (default: the empty one)' })
      .example("mx room state '#ops:example.org' m.room.topic", '')
      .example("mx room state ROOM m.room.member @alice:example.org | jq -r .membership", ''),
  validate(args) {
    parseRoomRef(args.room);
    return { room: args.room, type: args.type === undefined ? undefined : parseEventType(args.type), stateKey: args.stateKey ?? '' };
  },
  async run(ctx, { room, type, stateKey }) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, room);
    if (type === undefined) {
      const events = await getRoomState(client, roomId);
      await ctx.out.print(events, {
        table: {
          head: ['TYPE', 'STATE KEY', 'SENDER', 'CONTENT'],
          // Whatever the server put in an event's fields is shown, never thrown over.
          rows: (all) => all.map((e) => (isRecord(e) ? [shown(e.type), shown(e.state_key ?? ''), shown(e.sender), truncate(JSON.stringify(e.content) ?? '', 60)] : [shown(e), '', '', ''])),
        },
      });
      return;
    }
    const content = await getRoomStateWithKey(client, roomId, type, stateKey);
    if (!content) {
      throw new MxError(`${roomId} has no ${type} state${stateKey ? ` with state key ${JSON.stringify(stateKey)}` : ''}`, ExitCode.notFound);
    }
    await ctx.out.print(content, {});
  },
});

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
