import { defineCommand } from '../command.js';
import { roomAliasCommand } from './alias.js';
import { roomCreateCommand } from './create.js';
import { roomDirectoryCommand } from './directory.js';
import { roomListCommand } from './list.js';
import { roomMembersCommand } from './members.js';
import { roomForgetCommand, roomLeaveCommand } from './membership.js';
import { roomMessagesCommand } from './messages.js';
import { roomBanCommand, roomKickCommand, roomPowerCommand, roomUnbanCommand } from './moderation.js';
import { roomStateCommand } from './state.js';

export const roomCommand = defineCommand({
  command: 'room',
  describe: 'Rooms: create, list, members, messages, state, directory, leave, forget, alias, kick, ban, unban, power',
  subcommands: [roomCreateCommand, roomListCommand, roomMembersCommand, roomMessagesCommand, roomStateCommand, roomDirectoryCommand, roomLeaveCommand, roomForgetCommand, roomAliasCommand, roomKickCommand, roomBanCommand, roomUnbanCommand, roomPowerCommand],
});
