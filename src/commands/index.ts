import type { CommandDef } from './command.js';
import { accountCommand } from './account/account.js';
import { apiCommand } from './api/api.js';
import { cryptoCommand } from './crypto/crypto.js';
import { deviceCommand } from './device/device.js';
import { downloadCommand } from './media/download.js';
import { loginCommand } from './account/login.js';
import { logoutCommand } from './account/logout.js';
import { registerCommand } from './account/register.js';
import { whoamiCommand } from './account/whoami.js';
import { helpCommand } from './help.js';
import { profileCommand } from './profile/profile.js';
import { inviteCommand, joinCommand, roomLeaveCommand } from './room/membership.js';
import { readCommand, typingCommand } from './room/markers.js';
import { roomCommand } from './room/room.js';
import { userCommand } from './user/user.js';
import { verifyCommand } from './verify/verify.js';
import { spaceCommand } from './space/space.js';
import { reactCommand } from './send/react.js';
import { redactCommand } from './send/redact.js';
import { sendCommand } from './send/send.js';
import { syncCommand } from './sync/sync.js';
import { tailCommand } from './tail/tail.js';

/** Every top-level command, in the order `mx --help` lists them. */
export const commands: CommandDef<any, any>[] = [
  registerCommand,
  loginCommand,
  logoutCommand,
  whoamiCommand,
  roomCommand,
  inviteCommand,
  joinCommand,
  // `mx leave` is `mx room leave`, the way people say it.
  roomLeaveCommand,
  sendCommand,
  reactCommand,
  redactCommand,
  downloadCommand,
  readCommand,
  typingCommand,
  syncCommand,
  tailCommand,
  spaceCommand,
  userCommand,
  accountCommand,
  cryptoCommand,
  verifyCommand,
  deviceCommand,
  profileCommand,
  apiCommand,
  helpCommand(() => commands),
];
