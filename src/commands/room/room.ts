import { defineCommand } from '../command.js';
import { roomAliasCommand } from './alias.js';
import { roomCreateCommand } from './create.js';
import { roomListCommand } from './list.js';
import { roomMembersCommand } from './members.js';
import { roomForgetCommand, roomLeaveCommand } from './membership.js';
import { roomMessagesCommand } from './messages.js';

export const roomCommand = defineCommand({
  command: 'room',
  describe: 'Rooms: create, list, members, messages, leave, forget, alias',
  subcommands: [roomCreateCommand, roomListCommand, roomMembersCommand, roomMessagesCommand, roomLeaveCommand, roomForgetCommand, roomAliasCommand],
});
