/** Option definitions that several commands share, so that they read and behave the same. */
import { SHARE_KEYS_WITH } from '../share-keys-with.js';
export const USER_POSITIONAL = { type: 'string', describe: 'localpart (alice) or full user ID (@alice:example.org)' } as const;
export const PASSWORD_STDIN_OPTION = { type: 'boolean', describe: 'read the password from stdin (else MX_PASSWORD, else a prompt)' } as const;
export const DEVICE_NAME_OPTION = { type: 'string', default: 'mx', describe: 'display name of the new device' } as const;
export const ROOM_POSITIONAL = { type: 'string', demandOption: true, describe: 'room ID (!abc:example.org) or alias (#room:example.org)' } as const;
export const REFRESH_OPTION = {
  type: 'boolean',
  default: true,
  describe: 'ask for a refresh token, so mx keeps the login alive where tokens expire (--no-refresh: a token that does not expire, to export as MX_ACCESS_TOKEN)',
} as const;
export const SHARE_KEYS_OPTION = {
  type: 'string',
  choices: SHARE_KEYS_WITH,
  describe: 'in an encrypted room, whose devices get the room key: those their owners cross-signed (default, as Element does), or all devices of the members (for clients without cross-signing); or MX_SHARE_KEYS_WITH',
} as const;
