/** `mx space add SPACE ROOM` and `mx space tree SPACE` (spec: "Spaces"); `mx room create --space` makes one. */
import { parseRoomRef, parseUserId } from '../../matrix/identifiers.js';
import { setRoomStateWithKey } from '../../matrix/events.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { getSpaceHierarchy, type HierarchyRoom } from '../../matrix/rooms.js';
import { isRecord } from '../../matrix/shape.js';
import { shown } from '../../output/safe-text.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL } from '../options.js';

const add = defineCommand({
  command: 'add <space> <room>',
  describe: 'Put a room into a space: m.space.child in the space, and m.space.parent in the room',
  builder: (y) =>
    y
      .positional('space', ROOM_POSITIONAL)
      .positional('room', ROOM_POSITIONAL)
      .option('suggested', { type: 'boolean', describe: 'mark it as suggested to members of the space' })
      .option('order', { type: 'string', nargs: 1, describe: 'sort key among the space\'s children (printable ASCII, up to 50)' }),
  validate(args) {
    parseRoomRef(args.space);
    parseRoomRef(args.room);
    return { space: args.space, room: args.room, suggested: Boolean(args.suggested), order: args.order };
  },
  async run(ctx, { space, room, suggested, order }) {
    const session = await ctx.session();
    const { client } = session;
    const [spaceId, roomId] = await Promise.all([resolveRoom(client, space), resolveRoom(client, room)]);
    // Where others can join through: this user's server.
    const via = [parseUserId((await session.whoAmI()).userId).serverName];
    await setRoomStateWithKey(client, spaceId, 'm.space.child', roomId, { via, ...(suggested ? { suggested: true } : {}), ...(order ? { order } : {}) });
    await setRoomStateWithKey(client, roomId, 'm.space.parent', spaceId, { via, canonical: true });
    await ctx.out.print({ space_id: spaceId, room_id: roomId, via }, { text: (r) => `Added ${r.room_id} to ${r.space_id}` });
  },
});

const tree = defineCommand({
  command: 'tree <space>',
  describe: 'Show a space\'s rooms and subspaces as a tree (the hierarchy endpoint; JSON: its rooms)',
  builder: (y) => y.positional('space', ROOM_POSITIONAL).option('max-depth', { type: 'number', describe: 'how deep to go (default: as deep as the server goes)' }),
  validate(args) {
    parseRoomRef(args.space);
    return { space: args.space, maxDepth: args.maxDepth };
  },
  async run(ctx, { space, maxDepth }) {
    const { client } = await ctx.session();
    const spaceId = await resolveRoom(client, space);
    const rooms: HierarchyRoom[] = [];
    let from: string | undefined;
    do {
      const page = await getSpaceHierarchy(client, spaceId, { from, maxDepth });
      rooms.push(...page.rooms);
      from = page.next_batch && page.next_batch !== from && page.rooms.length > 0 ? page.next_batch : undefined;
    } while (from !== undefined);
    await ctx.out.print(rooms, { text: (all) => treeText(spaceId, all) });
  },
});

/** The hierarchy as an indented tree, from the space down its m.space.child links (any field the server got wrong is shown as it is). */
function treeText(rootId: string, rooms: HierarchyRoom[]): string {
  const byId = new Map(rooms.filter(isRecord).map((r) => [r.room_id, r]));
  const lines: string[] = [];
  const walk = (id: unknown, depth: number, seen: Set<unknown>) => {
    const room = byId.get(id as string);
    const label = room ? `${shown(room.name ?? room.canonical_alias ?? id)}${room.room_type === 'm.space' ? ' (space)' : ''}  ${shown(id)}` : `${shown(id)} (not visible)`;
    lines.push(`${'  '.repeat(depth)}${label}`);
    if (!room || seen.has(id)) return;
    const children = Array.isArray(room.children_state) ? room.children_state.filter(isRecord) : [];
    for (const child of children) walk(child.state_key, depth + 1, new Set([...seen, id]));
  };
  walk(rootId, 0, new Set());
  return lines.join('\n');
}

export const spaceCommand = defineCommand({
  command: 'space',
  describe: 'Spaces: add a room, show the tree',
  subcommands: [add, tree],
});
