import { ExitCode, MxError, UsageError } from '../../errors.js';
import { MatrixError } from '../../matrix/errors.js';
import { recordDirectRoom } from '../../matrix/account-data.js';
import { parseAliasLocalpart, parseEventType, parseUserId } from '../../matrix/identifiers.js';
import { MEGOLM } from '../../crypto/decrypted.js';
import { createRoom, type CreateRoomRequest } from '../../matrix/rooms.js';
import { defineCommand } from '../command.js';

const PRESETS = { public: 'public_chat', private: 'private_chat', trusted: 'trusted_private_chat' } as const;

export const roomCreateCommand = defineCommand({
  command: 'create',
  describe: 'Create a room (optionally with an alias); prints its ID and alias',
  builder: (y) =>
    y
      .option('alias', { type: 'string', describe: 'alias name: "tutorial" makes #tutorial:your.server' })
      .option('name', { type: 'string', describe: 'room name' })
      .option('topic', { type: 'string', describe: 'room topic' })
      .option('preset', { type: 'string', choices: Object.keys(PRESETS), describe: 'public, private or trusted (private, invitees are admins)' })
      .option('public', { type: 'boolean', describe: 'same as --preset public --visibility public' })
      .option('visibility', { type: 'string', choices: ['public', 'private'], describe: 'listed in the room directory or not' })
      .option('invite', { type: 'string', array: true, describe: 'invite this user (repeatable)' })
      .option('direct', { type: 'boolean', describe: 'a direct chat with the invited user(s), listed as one in their clients (m.direct)' })
      .option('space', { type: 'boolean', describe: 'make a space (a room of rooms: mx space add puts rooms in it)' })
      .option('encrypted', { type: 'boolean', describe: 'end-to-end encrypted (m.megolm.v1.aes-sha2); --direct rooms are, unless --no-encrypted' })
      .option('room-version', { type: 'string', describe: 'room version, e.g. 11 or 12' })
      .option('state', { type: 'string', array: true, describe: 'initial state event as JSON {"type","state_key","content"} (repeatable)' })
      .conflicts('public', 'preset'),
  validate(args): CreateRoomRequest {
    if (args.direct && !args.invite?.length) throw new UsageError('--direct needs --invite USER: a direct chat is with someone');
    if (args.space && (args.direct || args.encrypted)) throw new UsageError('a space is neither a direct chat nor encrypted (its rooms can be)');
    return {
      ...(args.alias !== undefined ? { room_alias_name: parseAliasLocalpart(args.alias) } : {}),
      ...(args.name !== undefined ? { name: args.name } : {}),
      ...(args.topic !== undefined ? { topic: args.topic } : {}),
      ...(args.public ? { preset: 'public_chat', visibility: 'public' } : {}),
      ...(args.preset ? { preset: PRESETS[args.preset as keyof typeof PRESETS] } : {}),
      ...(args.visibility ? { visibility: args.visibility as 'public' | 'private' } : {}),
      ...(args.invite?.length ? { invite: args.invite.map((user) => (parseUserId(user), user)) } : {}),
      ...(args.direct ? { is_direct: true } : {}),
      ...(args.roomVersion ? { room_version: args.roomVersion } : {}),
      ...(args.space ? { creation_content: { type: 'm.space' } } : {}),
      ...initialState(args.state?.map(parseStateEvent) ?? [], args.encrypted ?? Boolean(args.direct)),
    };
  },
  async run(ctx, body) {
    const session = await ctx.session();
    const { client } = session;
    let roomId: string;
    try {
      roomId = (await createRoom(client, body)).room_id;
    } catch (error) {
      if (error instanceof MatrixError && error.errcode === 'M_ROOM_IN_USE' && body.room_alias_name) {
        throw new MxError(`the alias "${body.room_alias_name}" is already taken on this server (M_ROOM_IN_USE)`, ExitCode.conflict, error.details);
      }
      throw error;
    }
    const me = async () => (await session.whoAmI()).userId;
    // As Element does: a direct chat is listed as one through the creator's m.direct.
    if (body.is_direct) await recordDirectRoom(client, await me(), roomId, body.invite ?? []);
    // The alias's server is the creator's.
    const alias = body.room_alias_name ? `#${body.room_alias_name}:${parseUserId(await me()).serverName}` : null;
    await ctx.out.print({ room_id: roomId, alias }, { text: (r) => [r.room_id, r.alias].filter(Boolean).join('\n') });
  },
});

type StateEvent = NonNullable<CreateRoomRequest['initial_state']>[number];

/** --state events, with m.room.encryption for an encrypted room (unless --state gives one). */
function initialState(state: StateEvent[], encrypted: boolean): Pick<CreateRoomRequest, 'initial_state'> {
  const events = encrypted && !state.some((e) => e.type === 'm.room.encryption')
    ? [...state, { type: 'm.room.encryption', state_key: '', content: { algorithm: MEGOLM } }]
    : state;
  return events.length ? { initial_state: events } : {};
}

function parseStateEvent(json: string): StateEvent {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new UsageError(`--state is not valid JSON: ${(error as Error).message}`);
  }
  const event = value as { type?: unknown; state_key?: unknown; content?: unknown };
  if (!event || typeof event !== 'object' || typeof event.type !== 'string' || !event.content || typeof event.content !== 'object' || Array.isArray(event.content)) {
    throw new UsageError('--state needs a JSON object like {"type":"m.room.topic","state_key":"","content":{"topic":"..."}}');
  }
  if (event.state_key !== undefined && typeof event.state_key !== 'string') throw new UsageError('--state: "state_key" must be a string');
  return { type: parseEventType(event.type), state_key: event.state_key ?? '', content: event.content as Record<string, unknown> };
}
