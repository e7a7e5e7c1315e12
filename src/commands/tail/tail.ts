/**
 * `mx tail`: long-polls /sync and writes each new event as it arrives, resuming from a saved
 * position. The guarantees:
 *
 * - Nothing lost: limited timelines are paged from /messages (batch.ts); a failed request is
 *   retried from the same position (reconnect loop below).
 * - Nothing repeated on a clean stop: a line counts as written when its write completed; the
 *   position saved on every exit (--count, --until-idle, SIGINT/SIGTERM, closed pipe, error)
 *   says exactly which lines those were (positions.ts).
 * - At least once after a crash: the position is saved after each batch's lines were flushed,
 *   so a kill -9 in between replays at most that batch. Consumers de-duplicate by event_id.
 * - Memory stays flat: one batch at a time, /messages page by page.
 */
import type { Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { getTokenOwner } from '../../matrix/account.js';
import { DEFAULT_RETRY_POLICY, type MatrixClient, type RetryPolicy } from '../../matrix/http.js';
import { filterParam, sync, type SyncResponse } from '../../matrix/sync.js';
import {
  decodePosition,
  DEFAULT_CURSOR,
  encodePosition,
  readPosition,
  savePosition,
  tailPositionKey,
} from '../../stream/positions.js';
import { watchReaderGone } from '../../stream/reader-gone.js';
import { defineCommand } from '../command.js';
import { resolveRoom } from '../room/resolve.js';
import { batchItems } from './batch.js';
import {
  buildSyncFilter,
  EXTRA_KINDS,
  matchesFilter,
  parseIncludes,
  parseTypePatterns,
  positionOnlyFilter,
  roomEventFilter,
  type TailFilter,
} from './filter.js';
import { RoomLabels } from '../../stream/room-labels.js';
import { jsonLine, textLine } from './render.js';
import { parseUserId } from '../../matrix/identifiers.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_TIMELINE_LIMIT = 50;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** How long a signal waits for a write in progress before that line counts as not written. */
const PENDING_WRITE_GRACE_MS = 500;

export const tailCommand = defineCommand({
  command: 'tail',
  describe: 'Stream new events as they arrive (one JSON line each when piped), resuming where the last run stopped',
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
      .option('max-retries', { type: 'number', describe: 'give up (exit code 7) after this many failed reconnects in a row (default: never)' })
      .option('save', { type: 'boolean', default: true, describe: 'save the position (--no-save leaves the saved one alone)' })
      .example('mx tail | jq -r .content.body', 'print message bodies as they arrive')
      .example('mx tail --count 1 --type m.room.message --room "#ci:example.org"', 'wait for the next message in a room'),
  async run(ctx, args) {
    const count = optionalInteger(args.count, '--count', 1);
    const maxRetries = optionalInteger(args.maxRetries, '--max-retries', 0);
    const timeout = optionalInteger(args.timeout, '--timeout', 0) ?? (args.untilIdle ? 0 : DEFAULT_TIMEOUT_MS);
    const timelineLimit = optionalInteger(args.limit, '--limit', 1) ?? DEFAULT_TIMELINE_LIMIT;
    const key = tailPositionKey(args.cursor);
    const include = parseIncludes(args.include);
    const types = parseTypePatterns(args.type);
    const senders = args.sender?.length ? args.sender.map((s) => (parseUserId(s), s)) : undefined;
    const from = args.from ?? 'saved';
    // A --from token is checked before any request, like every other argument.
    const fromToken = from === 'saved' || from === 'now' ? undefined : decodePosition(from, '--from');

    const session = await ctx.session();
    const stop = new AbortController();
    const signal = AbortSignal.any([ctx.io.signal, stop.signal]);
    const client: MatrixClient = { ...session.client, signal };
    // Positions belong to the profile's own login; a token from MX_ACCESS_TOKEN may be someone else's.
    const ownsPositions = session.profile !== undefined && session.client.accessToken === session.profile.accessToken;

    const labels: [string, string][] = [];
    const rooms = args.room?.length
      ? await Promise.all(
          args.room.map(async (room) => {
            const roomId = await resolveRoom(client, room);
            if (room !== roomId) labels.push([roomId, room]);
            return roomId;
          }),
        )
      : undefined;
    const filter: TailFilter = { rooms, types, senders, include, timelineLimit };
    let userId = session.profile?.userId;
    const whoAmI = async () => (userId ??= (await getTokenOwner(client)).user_id);
    await whoAmI();

    const tail = new Tail(ctx, client, signal, {
      filter,
      userId: userId!,
      syncFilter: await filterParam(client, buildSyncFilter(filter), whoAmI),
      timeout,
      count,
      untilIdle: Boolean(args.untilIdle),
      maxRetries,
      save: args.save && ownsPositions ? (value) => savePosition(ctx, session.profileName, key, value) : undefined,
      roomLabels: new RoomLabels(client, labels),
    });

    // Where to start.
    const saved = ownsPositions ? await readPosition(ctx, session.profileName, key) : undefined;
    if (fromToken) {
      tail.startAt(fromToken, saved);
    } else if (from === 'saved' && saved !== undefined) {
      tail.startAt(decodePosition(saved, `the saved position "${key}" of profile "${session.profileName}"`), saved);
    } else if (args.from === 'saved') {
      ctx.warn(`no saved position "${key}" in profile "${session.profileName}": starting from now`);
    }

    const unwatch = ctx.io.stdoutIsTTY ? () => {} : watchReaderGone(ctx.io.stdout, () => stop.abort('EPIPE'));
    try {
      await tail.run();
    } finally {
      unwatch();
    }
    return signal.aborted ? exitCodeForAbort(signal.reason) : ExitCode.ok;
  },
});

interface TailOptions {
  filter: TailFilter;
  userId: string;
  syncFilter: string;
  timeout: number;
  count: number | undefined;
  untilIdle: boolean;
  maxRetries: number | undefined;
  /** Saves an encoded position; undefined with --no-save or without a profile of one's own. */
  save: ((value: string) => Promise<void>) | undefined;
  roomLabels: RoomLabels;
}

/** Why writing stopped early: the output is gone (EPIPE), so stop quietly. */
class OutputClosed extends Error {}

export class Tail {
  readonly format: 'json' | 'text';
  /** The position in memory: `skip` also holds what this run wrote from the batch after `since`. */
  private since: string | undefined;
  private skip = new Set<string>();
  private lastSaved: string | undefined;
  private written = 0;

  constructor(
    private readonly ctx: Context,
    private readonly client: MatrixClient,
    private readonly signal: AbortSignal,
    private readonly opts: TailOptions,
  ) {
    this.format = ctx.out.format('text') === 'json' ? 'json' : 'text';
  }

  startAt(position: { since: string; skip: string[] }, saved: string | undefined): void {
    this.since = position.since;
    this.skip = new Set(position.skip);
    this.lastSaved = saved;
  }

  /** Runs until --count, --until-idle, a signal or a closed pipe; saves the position on every way out. */
  async run(): Promise<void> {
    try {
      await this.loop();
    } catch (error) {
      if (!(error instanceof OutputClosed) && !this.signal.aborted) throw error;
    } finally {
      await this.save();
    }
  }

  private async loop(): Promise<void> {
    // The reconnect loop is the one place that retries network failures, so it can count them.
    const policy: RetryPolicy = { ...(this.client.retry ?? DEFAULT_RETRY_POLICY), transientRetries: 0 };
    let failures = 0;
    let backoff = FIRST_BACKOFF_MS;
    for (;;) {
      if (this.signal.aborted) return;
      let outcome: 'more' | 'idle' | 'count';
      try {
        if (this.since === undefined) {
          // From now: a sync that returns no events, only the current position.
          const now = await sync(this.client, { timeout: 0, filter: JSON.stringify(positionOnlyFilter()) }, policy);
          this.since = now.next_batch;
          await this.save();
          continue;
        }
        const response = await sync(this.client, { since: this.since, timeout: this.opts.timeout, filter: this.opts.syncFilter }, policy);
        outcome = await this.writeBatch(response);
      } catch (error) {
        if (this.signal.aborted || error instanceof OutputClosed) throw error;
        if (!(error instanceof MxError) || error.exitCode !== ExitCode.temporary) throw error;
        failures++;
        if (this.opts.maxRetries !== undefined && failures > this.opts.maxRetries) {
          throw new MxError(`tail: giving up after ${failures} failed attempt(s) in a row: ${error.message}`, ExitCode.temporary, error.details, { cause: error });
        }
        this.ctx.io.stderr.write(`mx: tail: ${error.message}; retrying in ${(backoff / 1000).toFixed(1)} s\n`);
        await this.ctx.io.sleep(backoff, this.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (failures > 0) this.ctx.io.stderr.write('mx: tail: reconnected\n');
      failures = 0;
      backoff = FIRST_BACKOFF_MS;
      if (outcome === 'count' || (outcome === 'idle' && this.opts.untilIdle)) return;
    }
  }

  /**
   * Writes one batch; on success the position moves to its next_batch. Returns 'count' when
   * --count was reached (the position then stays at this batch, with what was written skipped).
   */
  private async writeBatch(response: SyncResponse): Promise<'more' | 'idle' | 'count'> {
    let wrote = 0;
    const items = batchItems(response, {
      client: this.client,
      userId: this.opts.userId,
      since: this.since!,
      include: this.opts.filter.include,
      messagesFilter: roomEventFilter(this.opts.filter),
      onGap: (roomId, reason) => this.ctx.debug?.(`tail: reading ${roomId} from /messages (${reason})`),
    });
    for await (const item of items) {
      if (this.skip.has(item.id) || !matchesFilter(this.opts.filter, item.event)) continue;
      let line: string;
      if (this.format === 'json') line = jsonLine(item);
      else {
        this.opts.roomLabels.learn(item.event);
        const label = item.event.room_id ? await this.opts.roomLabels.label(item.event.room_id) : undefined;
        line = textLine(item, this.ctx.out.colours, label);
      }
      await this.writeLine(line);
      this.skip.add(item.id);
      wrote++;
      this.written++;
      if (this.opts.count !== undefined && this.written >= this.opts.count) return 'count';
    }
    this.since = response.next_batch;
    this.skip = new Set();
    await this.save();
    return wrote === 0 ? 'idle' : 'more';
  }

  /**
   * Resolves once the line was handed on (the write's callback); a closed output throws
   * OutputClosed. A signal during a write waits a moment for it to complete, so that the line
   * counts as written; a write stuck behind a reader that reads no more is given up: that line
   * counts as not written (it may come again next time, never lost).
   */
  private writeLine(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.signal.aborted) return reject(this.signal.reason);
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        timer = setTimeout(() => reject(this.signal.reason), PENDING_WRITE_GRACE_MS);
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
      this.ctx.io.stdout.write(line, (error) => {
        this.signal.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        if (!error) resolve();
        else if (isClosedOutput(error)) reject(new OutputClosed(error.message));
        else reject(new MxError(`cannot write to stdout: ${error.message}`, ExitCode.failure));
      });
    });
  }

  private async save(): Promise<void> {
    if (!this.opts.save || this.since === undefined) return;
    const value = encodePosition({ since: this.since, skip: [...this.skip] });
    if (value === this.lastSaved) return;
    await this.opts.save(value);
    this.lastSaved = value;
  }
}

function isClosedOutput(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

/** 130 for SIGINT, 143 for SIGTERM, 0 for a closed pipe (the reader had enough). */
export function exitCodeForAbort(reason: unknown): number {
  if (reason === 'SIGTERM') return ExitCode.terminated;
  if (reason === 'EPIPE') return ExitCode.ok;
  return ExitCode.interrupted;
}

function optionalInteger(value: number | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min) throw new UsageError(`${flag} must be a whole number of at least ${min}`);
  return value;
}
