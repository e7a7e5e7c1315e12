import { parseRoomAlias, parseRoomRef } from '../../matrix/identifiers.js';
import { deleteRoomAlias, getRoomIdByAlias, setRoomAlias } from '../../matrix/rooms.js';
import { defineCommand } from '../command.js';
import { resolveRoom } from '../../matrix/resolve.js';

const add = defineCommand({
  command: 'add <alias> <room>',
  describe: 'Point an alias at a room',
  builder: (y) =>
    y
      .positional('alias', { type: 'string', demandOption: true, describe: '#name:your.server' })
      .positional('room', { type: 'string', demandOption: true, describe: 'room ID or another alias of it' }),
  validate(args) {
    parseRoomRef(args.room);
    return { alias: parseRoomAlias(args.alias), room: args.room };
  },
  async run(ctx, { alias, room }) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, room);
    await setRoomAlias(client, alias, roomId);
    await ctx.out.print({ alias, room_id: roomId }, { text: (r) => `${r.alias} -> ${r.room_id}` });
  },
});

const rm = defineCommand({
  command: 'rm <alias>',
  aliases: ['remove'],
  describe: 'Remove an alias',
  builder: (y) => y.positional('alias', { type: 'string', demandOption: true }),
  validate: (args) => ({ alias: parseRoomAlias(args.alias) }),
  async run(ctx, { alias }) {
    const { client } = await ctx.session();
    await deleteRoomAlias(client, alias);
    await ctx.out.print({ alias, removed: true }, { text: (r) => `Removed ${r.alias}` });
  },
});

const resolve = defineCommand({
  command: 'resolve <alias>',
  describe: 'Show the room an alias points to',
  builder: (y) => y.positional('alias', { type: 'string', demandOption: true }),
  validate: (args) => ({ alias: parseRoomAlias(args.alias) }),
  async run(ctx, { alias }) {
    const { client } = await ctx.session();
    const { room_id, servers } = await getRoomIdByAlias(client, alias);
    await ctx.out.print({ alias, room_id, servers }, { text: (r) => r.room_id });
  },
});

export const roomAliasCommand = defineCommand({
  command: 'alias',
  describe: 'Manage room aliases (add, rm, resolve)',
  subcommands: [add, rm, resolve],
});
