import type { CommandDef } from './command.js';
import { apiCommand } from './account/api.js';
import { loginCommand } from './account/login.js';
import { logoutCommand } from './account/logout.js';
import { registerCommand } from './account/register.js';
import { whoamiCommand } from './account/whoami.js';
import { profileCommand } from './profile/profile.js';

/** Every top-level command, in the order `mx --help` lists them. */
export const commands: CommandDef<any>[] = [
  registerCommand,
  loginCommand,
  logoutCommand,
  whoamiCommand,
  profileCommand,
  apiCommand,
];
