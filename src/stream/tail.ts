/**
 * The `mx tail` engine: long-polls /sync and writes each new event as it arrives, resuming from
 * a saved position. The guarantees:
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
import { ExitCode, MxError } from '../errors.js';
import { DEFAULT_RETRY_POLICY, type MatrixClient, type RetryPolicy } from '../matrix/http.js';
import { sync, type SyncResponse } from '../matrix/sync.js';
import type { SyncCrypto } from '../crypto/sync-crypto.js';
import type { Output } from '../output/output.js';
import { batchItems, type Item } from './batch.js';
import type { AttachmentSaver } from './downloads.js';
import { matchesFilter, positionOnlyFilter, roomEventFilter, type TailFilter } from './filter.js';
import { encodePosition, type Position } from './positions.js';
import { textLine } from './render.js';
import type { RoomLabels } from './room-labels.js';

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** How long a signal waits for a write in progress before that line counts as not written. */
const PENDING_WRITE_GRACE_MS = 500;

export interface TailOptions {
  client: MatrixClient;
  /** Stops the tail: SIGINT/SIGTERM, or a closed pipe (reason 'EPIPE'). */
  signal: AbortSignal;
  out: Output;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  filter: TailFilter;
  userId: string;
  /** The sync filter, as the `filter` query value. */
  syncFilter: string;
  timeout: number;
  count: number | undefined;
  untilIdle: boolean;
  /** Reconnects after failures in a row before giving up (exit 7); undefined: never give up. */
  maxRetries: number | undefined;
  /** Saves an encoded position; undefined with --no-save or without a profile of one's own. */
  save: ((value: string) => Promise<void>) | undefined;
  roomLabels: RoomLabels;
  /** Encryption: each answer's crypto parts, and decrypting encrypted events. */
  crypto: SyncCrypto;
  /** --download: saves an item's attachment before its line; the line then says where. */
  saveAttachment?: AttachmentSaver;
}

/** Why writing stopped early: the output is gone (EPIPE), so stop quietly. */
class OutputClosed extends Error {}

export class Tail {
  private readonly json: boolean;
  /** The position in memory: `skip` also holds what this run wrote from the batch after `since`. */
  private since: string | undefined;
  private skip = new Set<string>();
  private lastSaved: string | undefined;
  private written = 0;

  constructor(private readonly opts: TailOptions) {
    this.json = opts.out.format('text') === 'json';
  }

  /** Starts after `position` (a saved one, or --from); without it the tail starts from now. */
  startAt(position: Position, saved: string | undefined): void {
    this.since = position.since;
    this.skip = new Set(position.skip);
    this.lastSaved = saved;
  }

  /** Runs until --count, --until-idle, a signal or a closed pipe; saves the position on every way out. */
  async run(): Promise<void> {
    try {
      await this.loop();
    } catch (error) {
      if (!(error instanceof OutputClosed) && !this.opts.signal.aborted) throw error;
    } finally {
      await this.save();
    }
  }

  private async loop(): Promise<void> {
    const { client, signal, out } = this.opts;
    // The reconnect loop is the one place that retries network failures, so it can count them.
    const policy: RetryPolicy = { ...(client.retry ?? DEFAULT_RETRY_POLICY), transientRetries: 0 };
    let failures = 0;
    let backoff = FIRST_BACKOFF_MS;
    for (;;) {
      if (signal.aborted) return;
      let outcome: 'more' | 'idle' | 'count';
      try {
        if (this.since === undefined) {
          // From now: a sync that returns no events, only the current position.
          const now = await sync(client, { timeout: 0, filter: JSON.stringify(positionOnlyFilter()) }, policy);
          // Its to-device messages too: the next sync, from its next_batch, acknowledges them.
          await this.opts.crypto.receiveSync(now);
          this.since = now.next_batch;
          await this.save();
          continue;
        }
        const response = await sync(client, { since: this.since, timeout: this.opts.timeout, filter: this.opts.syncFilter }, policy);
        outcome = await this.writeBatch(response);
      } catch (error) {
        if (signal.aborted || error instanceof OutputClosed) throw error;
        if (!(error instanceof MxError) || error.exitCode !== ExitCode.temporary) throw error;
        // --max-retries N: N reconnects after the first failure, so N + 1 failures in a row end it.
        if (this.opts.maxRetries !== undefined && failures >= this.opts.maxRetries) {
          const retried = `${failures} ${failures === 1 ? 'retry' : 'retries'}`;
          throw new MxError(`tail: giving up after ${retried}: ${error.message}`, ExitCode.temporary, error.details, { cause: error });
        }
        failures++;
        out.notice(`tail: ${error.message}; retrying in ${(backoff / 1000).toFixed(1)} s`, { retry_in_ms: backoff, retry: failures });
        await this.opts.sleep(backoff, signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (failures > 0) out.notice('tail: reconnected', { retries: failures });
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
    const { client, filter, out, crypto } = this.opts;
    let wrote = 0;
    // First the keys and devices this answer brings: its events may need them.
    await crypto.receiveSync(response);
    const items = batchItems(response, {
      client,
      userId: this.opts.userId,
      since: this.since!,
      include: filter.include,
      messagesFilter: roomEventFilter(filter),
      onGap: (roomId, reason) => out.debug?.(`tail: reading ${roomId} from /messages (${reason})`),
      decrypt: (roomId, events) => crypto.decrypt(roomId, events),
    });
    for await (const item of items) {
      if (this.skip.has(item.id) || !matchesFilter(filter, item.event)) continue;
      const download = await this.opts.saveAttachment?.(item);
      await this.write(download ? { ...item, event: { ...item.event, download } } : item);
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

  /** The room's name for a text line (looked up once per room); JSON lines need none. */
  private async label(item: Item): Promise<string | undefined> {
    if (this.json) return undefined;
    const labels = this.opts.roomLabels;
    labels.learn(item.event);
    return item.event.room_id ? labels.label(item.event.room_id) : undefined;
  }

  /**
   * Writes one item's line. Resolves once the line was handed on; a closed output throws
   * OutputClosed. A signal during a write waits a moment for it to complete, so that the line
   * counts as written; a write stuck behind a reader that reads no more is given up: that line
   * counts as not written (it may come again next time, never lost).
   */
  private async write(item: Item): Promise<void> {
    const { signal, out } = this.opts;
    const label = await this.label(item);
    signal.throwIfAborted();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const givenUp = new Promise<never>((_, reject) => {
      onAbort = () => {
        timer = setTimeout(() => reject(signal.reason), PENDING_WRITE_GRACE_MS);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      // The line is made from the copy Output.item hands over, its strings neutralised.
      await Promise.race([out.item(item.event, (event, c) => textLine({ ...item, event }, c, label)), givenUp]);
    } catch (error) {
      if (error instanceof Error && isClosedOutput(error)) throw new OutputClosed(error.message);
      if (signal.aborted) throw error;
      throw new MxError(`cannot write to stdout: ${(error as Error).message}`, ExitCode.failure);
    } finally {
      signal.removeEventListener('abort', onAbort!);
      clearTimeout(timer);
    }
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
