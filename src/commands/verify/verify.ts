/**
 * `mx verify --self`, `mx verify USER`: emoji (SAS) verification of this device with another of
 * the account's devices, or of another user (in your direct chat with them, or one device of
 * theirs to-device); `accept`, `list` and `cancel` for requests. The work is in
 * src/crypto/verification/; run-flow.ts goes through one flow, present.ts shows it.
 */
import { UsageError } from '../../errors.js';
import { seconds } from '../../flag-numbers.js';
import { parseUserId } from '../../matrix/identifiers.js';
import { directRoomWith } from '../../messages/direct.js';
import { newTxnId } from '../../messages/txn.js';
import { REQUEST_LIFETIME_MS } from '../../crypto/verification/inbox.js';
import { requestOwnVerification, requestUserVerification } from '../../crypto/verification/start.js';
import { defineCommand } from '../command.js';
import { acceptCommand } from './accept.js';
import { cancelCommand } from './cancel.js';
import { listCommand } from './list.js';
import { runVerification } from './run-flow.js';

export const EXPECT_OPTION = {
  type: 'string',
  describe: 'confirm only if the emoji names are these, in order (comma-separated: Dog,Cat,...), else cancel with m.mismatched_sas; no question is asked',
} as const;

export const FLOW_TIMEOUT_OPTION = { type: 'number', describe: 'give up after this many seconds (default 600, the spec\'s lifetime of a request)' } as const;

/** --expect NAMES as a list of seven names. */
export function expectedNames(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length !== 7) throw new UsageError(`--expect takes the seven emoji names, comma-separated (Dog,Cat,...), not ${names.length}`);
  return names;
}

/** --timeout S: milliseconds, at most the spec's 10 minutes. */
export function flowTimeoutMs(value: number | undefined, flag = '--timeout'): number {
  return seconds(value, flag, { min: 0, above: true, max: REQUEST_LIFETIME_MS / 1000 }) ?? REQUEST_LIFETIME_MS;
}

export const verifyCommand = defineCommand({
  command: 'verify [user]',
  describe: 'Verify this device (--self) or another user by comparing emoji; accept, list or cancel requests',
  builder: (y) =>
    y
      .positional('user', { type: 'string', describe: "the user to verify (@bob:example.org): in your direct chat with them, or one device with --device" })
      .option('self', { type: 'boolean', describe: "verify this device with another of the account's devices (Element's \"verify with another device\")" })
      .option('device', { type: 'string', describe: 'the device to verify with (to-device); default: all of the account\'s other devices (--self), the user\'s identity (USER)' })
      .option('expect', EXPECT_OPTION)
      .option('timeout', FLOW_TIMEOUT_OPTION)
      .example('mx verify --self', 'verify this new device from Element on your phone')
      .example('mx verify @bob:example.org', 'verify Bob in your direct chat (he accepts in Element)')
      .example("mx verify --self -o json | jq -c 'select(.step == \"sas\") | .emoji'", 'the emoji as JSON, for a script (answer yes/no on stdin)'),
  validate(args) {
    if (args.self && args.user) throw new UsageError('give --self or a user to verify, not both');
    if (!args.self && !args.user) throw new UsageError('give --self (this device) or a user to verify (@bob:example.org); mx verify accept waits for a request');
    if (args.user) parseUserId(args.user);
    return {
      user: args.user,
      self: Boolean(args.self),
      device: args.device,
      expect: expectedNames(args.expect),
      timeoutMs: flowTimeoutMs(args.timeout),
    };
  },
  async run(ctx, options) {
    const user = options.user;
    return runVerification(ctx, {
      rooms: [],
      acceptIncoming: false,
      deadline: ctx.io.now() + options.timeoutMs,
      expect: options.expect,
      async begin({ session, crypto, fork, link, sendRoomMessage }) {
        if (!user || user === crypto.ref.userId && !options.device) {
          if (user) throw new UsageError(`${user} is you: mx verify --self verifies this device`);
          return requestOwnVerification(fork, crypto.ref, options.device);
        }
        let roomId: string | undefined;
        const request = await requestUserVerification(fork, user, {
          deviceId: options.device,
          txnId: newTxnId(ctx.io.now()),
          sendRoomMessage,
          directRoom: async () => {
            const direct = await directRoomWith(session.client, crypto.ref.userId, user);
            if (direct.created) ctx.out.notice(`started a direct chat with ${user}: ${direct.roomId}`, { room_id: direct.roomId });
            return (roomId = direct.roomId);
          },
        });
        if (roomId) link.watchOnly([roomId]);
        return request;
      },
    });
  },
  subcommands: [acceptCommand, listCommand, cancelCommand],
});
