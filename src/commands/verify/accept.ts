/** `mx verify accept`: wait for a verification request (Element's "Verify" pressed) and go through it. */
import { parseUserId } from '../../matrix/identifiers.js';
import { REQUEST_LIFETIME_MS } from '../../crypto/verification/inbox.js';
import { awaitIncomingRequest } from '../../crypto/verification/start.js';
import { defineCommand } from '../command.js';
import { runVerification } from './run-flow.js';
import { EXPECT_OPTION, expectedNames, flowTimeoutMs } from './verify.js';

/** Room events a first sync looks back at for a request made before the command started. */
const LOOK_BACK_EVENTS = 20;

export const acceptCommand = defineCommand({
  command: 'accept',
  describe: 'Wait for a verification request (for this device or the account) and go through it',
  builder: (y) =>
    y
      .option('from', { type: 'string', describe: 'only a request from this user (@bob:example.org, or your own ID for your other devices)' })
      .option('timeout', { type: 'number', describe: 'seconds to wait for a request (default 600); the verification then has the spec\'s 10 minutes' })
      .option('expect', EXPECT_OPTION)
      .example('mx verify accept --from @alice:example.org', 'wait until Alice presses "Verify" in Element'),
  validate(args) {
    if (args.from !== undefined) parseUserId(args.from);
    return { from: args.from, waitMs: flowTimeoutMs(args.timeout), expect: expectedNames(args.expect) };
  },
  async run(ctx, options) {
    const now = ctx.io.now;
    return runVerification(ctx, {
      rooms: 'all',
      lookBack: LOOK_BACK_EVENTS,
      acceptIncoming: true,
      deadline: now() + options.waitMs + REQUEST_LIFETIME_MS,
      expect: options.expect,
      begin: ({ crypto, fork, link }) =>
        awaitIncomingRequest(fork, link, {
          ownUserId: crypto.ref.userId,
          from: options.from,
          deadline: now() + options.waitMs,
          now,
          folder: crypto.ref.folder,
          interrupt: ctx.io.signal,
          debug: ctx.debug,
        }),
    });
  },
});
