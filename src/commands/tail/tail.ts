/** `mx tail`: stream new events as they arrive, resuming where the last run stopped (engine: stream/tail.ts). */
import { ExitCode, exitCodeForAbort, UsageError } from '../../errors.js';
import type { MatrixClient } from '../../matrix/http.js';
import { parseRoomRef, parseUserId } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { filterParam } from '../../matrix/sync.js';
import { SyncCrypto } from '../../crypto/sync-crypto.js';
import { buildSyncFilter, EXTRA_KINDS, parseIncludes, parseTypePatterns, type TailFilter } from '../../stream/filter.js';
import { decodePosition, DEFAULT_CURSOR, readPosition, savePosition, tailPositionKey } from '../../stream/positions.js';
import { watchReaderGone } from '../../stream/reader-gone.js';
import { attachmentSaver } from '../../stream/downloads.js';
import { RoomLabels } from '../../stream/room-labels.js';
import { Tail } from '../../stream/tail.js';
import { defineCommand } from '../command.js';
import { ownProfile } from '../../session.js';
import { wholeNumber } from '../../flag-numbers.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_TIMELINE_LIMIT = 50;
/** How long an encrypted event whose room key has not come yet is held back for it. */
const DEFAULT_KEY_WAIT_MS = 5_000;

export const tailCommand = defineCommand({
  command: 'tail',
  describe: 'Stream new events as they arrive (one JSON line each when piped), resuming where the last run stopped',
  stream: true,
  builder: (y) =>
    y
      .option('from', { type: 'string', describe: 'where to start: saved (the cursor\'s saved position; now if none), now, or a sync token' })
      .option('cursor', { type: 'string', default: DEFAULT_CURSOR, describe: 'name of the saved position (tails with different filters each use their own)' })
      .option('room', { type: 'string', array: true, describe: 'only this room, by ID or alias (repeatable)' })
      .option('type', { type: 'string', array: true, describe: 'only events of this type; * wildcards, as in m.room.* (repeatable)' })
      .option('sender', { type: 'string', array: true, describe: 'only events from this user (repeatable)' })
      .option('include', { type: 'string', array: true, describe: `also stream ${EXTRA_KINDS.join(', ')} (comma-separated)` })
      .option('count', { type: 'number', describe: 'exit after writing this many events' })
      .option('until-idle', { type: 'boolean', describe: 'exit after the first poll that brings nothing new' })
      .option('timeout', { type: 'number', describe: `long-poll timeout in ms (default ${DEFAULT_TIMEOUT_MS}; with --until-idle 0)` })
      .option('limit', { type: 'number', default: DEFAULT_TIMELINE_LIMIT, describe: 'timeline events per room per poll; more are paged from history' })
      .option('key-wait', { type: 'number', describe: `hold an encrypted event whose key has not come yet this long for it, in ms (default ${DEFAULT_KEY_WAIT_MS}; 0: never)` })
      .option('download', { type: 'string', nargs: 1, describe: 'save each arriving attachment (decrypted) into this folder; the line says where ("download":{"path"})' })
      .option('max-retries', { type: 'number', describe: 'reconnect at most this many times after failures in a row, then exit 7 (default: never give up)' })
      .option('save', { type: 'boolean', default: true, describe: 'save the position (--no-save leaves the saved one alone)' })
      .example('mx tail | jq -r .content.body', 'print message bodies as they arrive')
      .example('mx tail --count 1 --type m.room.message --room "#ci:example.org"', 'wait for the next message in a room'),
  validate(args) {
    const from = args.from;
    for (const room of args.room ?? []) parseRoomRef(room);
    if (args.download === '') throw new UsageError('--download needs a folder');
    return {
      rooms: args.room?.length ? args.room : undefined,
      count: wholeNumber(args.count, '--count', { min: 1 }),
      maxRetries: wholeNumber(args.maxRetries, '--max-retries', { min: 0 }),
      keyWaitMs: wholeNumber(args.keyWait, '--key-wait', { min: 0 }) ?? DEFAULT_KEY_WAIT_MS,
      downloadDir: args.download,
      timeout: wholeNumber(args.timeout, '--timeout', { min: 0 }) ?? (args.untilIdle ? 0 : DEFAULT_TIMEOUT_MS),
      timelineLimit: wholeNumber(args.limit, '--limit', { min: 1 }) ?? DEFAULT_TIMELINE_LIMIT,
      key: tailPositionKey(args.cursor),
      include: parseIncludes(args.include),
      types: parseTypePatterns(args.type),
      senders: args.sender?.length ? args.sender.map((s) => (parseUserId(s), s)) : undefined,
      from,
      fromToken: from === undefined || from === 'saved' || from === 'now' ? undefined : decodePosition(from, '--from'),
      untilIdle: Boolean(args.untilIdle),
      save: args.save,
    };
  },
  async run(ctx, opts) {
    const session = await ctx.session();
    const positionProfile = ownProfile(session);
    const stop = new AbortController();
    const signal = AbortSignal.any([ctx.io.signal, stop.signal]);
    const client: MatrixClient = { ...session.client, signal };

    const labels: [string, string][] = [];
    const rooms = opts.rooms
      ? await Promise.all(
          opts.rooms.map(async (room) => {
            const roomId = await resolveRoom(client, room);
            if (room !== roomId) labels.push([roomId, room]);
            return roomId;
          }),
        )
      : undefined;
    const filter: TailFilter = { rooms, types: opts.types, senders: opts.senders, include: opts.include, timelineLimit: opts.timelineLimit };
    // Who the invites and the sync filter's "me" are: the token's user, not a stored profile's.
    const { userId } = await session.whoAmI();

    const tail = new Tail({
      client,
      signal,
      out: ctx.out,
      sleep: ctx.io.sleep,
      filter,
      userId,
      syncFilter: await filterParam(client, buildSyncFilter(filter), async () => userId),
      timeout: opts.timeout,
      count: opts.count,
      untilIdle: opts.untilIdle,
      maxRetries: opts.maxRetries,
      save: opts.save && positionProfile ? (value) => savePosition(ctx.store, positionProfile, opts.key, value) : undefined,
      roomLabels: new RoomLabels(client, labels),
      saveAttachment: opts.downloadDir === undefined ? undefined : attachmentSaver(client, ctx.io.cwd, opts.downloadDir),
      crypto: new SyncCrypto(() => ctx.crypto(session), {
        keyWait: opts.keyWaitMs > 0 ? { ms: opts.keyWaitMs, signal, now: ctx.io.now } : undefined,
      }),
    });

    // Where to start.
    const saved = positionProfile ? readPosition(await ctx.storeData(), positionProfile, opts.key) : undefined;
    if (opts.fromToken) {
      tail.startAt(opts.fromToken, saved);
    } else if (opts.from !== 'now' && saved !== undefined) {
      tail.startAt(decodePosition(saved, `the saved position "${opts.key}" of profile "${positionProfile}"`), saved);
    } else if (opts.from === 'saved') {
      // Asked for explicitly: say why the tail starts from now instead.
      ctx.warn(`no saved position "${opts.key}"${positionProfile ? ` in profile "${positionProfile}"` : ''}: starting from now`);
    }

    const unwatch = ctx.io.stdoutIsTTY ? () => {} : watchReaderGone(ctx.io.stdout, ctx.io.env, () => stop.abort('EPIPE'));
    try {
      await tail.run();
    } finally {
      unwatch();
    }
    return signal.aborted ? exitCodeForAbort(signal.reason) : ExitCode.ok;
  },
});
