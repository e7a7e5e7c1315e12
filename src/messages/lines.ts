/**
 * `send --lines`: each line of stdin becomes its own message, in input order.
 *
 * Ordering vs speed. A room's order is the order in which the server persists its events, so
 * two sends in flight on different connections can swap (measured: 8 concurrent connections
 * to Synapse put 300 lines out of order, starting at the first). HTTP/1.1 pipelining on one
 * dedicated connection keeps the order on the wire, and Synapse (Twisted) does handle
 * pipelined requests one after the other, so a pipelined run kept 300 lines in order; but:
 *  - it gains nothing when the server is the bottleneck: over loopback, sequential and
 *    pipelined (depth 2-16) both did ~42 messages/s; only with 40 ms of added round trip
 *    did depth 8 help (16 -> 40 messages/s);
 *  - it breaks the order as soon as the server rate-limits, which Synapse does by default
 *    (rc_message: 0.2/s, burst 10, i.e. in nearly every --lines run longer than ten lines):
 *    line k gets 429 while lines k+1.. are already on the wire, and one of those is accepted
 *    when the bucket has just leaked enough. Measured with rc_message 5/s: 8/8 pipelined runs
 *    of 60 lines (with drain-and-retry-in-order on errors) ended out of order; 3/3 sequential
 *    runs kept the order, at the same speed (the limiter sets it).
 * So mx keeps one send in flight and overlaps everything else with it: the next line is read
 * and its content built while the previous PUT is on the wire, over the process's keep-alive
 * connection. A retried send (network error, 5xx, 429) is retried before the next line starts.
 *
 * stdin is read as a stream (readline pauses its input past 1,024 queued lines), so memory
 * stays flat for any input size.
 */
import type { Io } from '../io.js';
import { checkContentSize, isBlank, type Content } from './content.js';
import type { RoomSender, Sent } from './deliver.js';
import { lineTxnId } from './txn.js';
import { nodeReadline } from '../builtins.js';

export interface LinesOptions {
  io: Io;
  /** Sends to the room (each line asks whether the room is encrypted). */
  sender: RoomSender;
  /** Line n is sent with the transaction ID `txnBase-n` (n counts from 1, blank lines too). */
  txnBase: string;
  /** Builds one line's content (throws a UsageError for a bad line). */
  build: (line: string) => Promise<Content>;
  /** Adds what depends on the line sent before (a thread's fallback reply), once that one is sent. */
  relate?: (content: Content, previous: string | undefined) => Content;
  /** Called in order, once per line the server accepted (the next line is sent once it resolves). */
  onSent: (sent: Sent & { line: number }) => Promise<void>;
}

/** Sends every non-blank line in order; returns how many were sent. Stops at the first failure. */
export async function sendLines(options: LinesOptions): Promise<number> {
  const { io, sender, txnBase, build, relate, onSent } = options;
  // Loaded here, not at start-up: only --lines reads lines.
  const { createInterface } = nodeReadline();
  const input = createInterface({ input: io.stdin, crlfDelay: Infinity, signal: io.signal });
  let inFlight: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;
  let lineNo = 0;
  let sent = 0;
  let previous: string | undefined;
  try {
    for await (const line of input) {
      const n = ++lineNo;
      if (isBlank(line)) continue;
      // Build this line while the previous one is still being sent.
      let content: Content | undefined;
      let problem: { error: unknown } | undefined;
      try {
        content = await build(line);
        if (!relate) checkContentSize(content, `line ${n}`);
      } catch (error) {
        problem = { error };
      }
      await inFlight;
      if (failure) break;
      if (problem) throw problem.error;
      if (relate) {
        content = relate(content!, previous);
        checkContentSize(content, `line ${n}`);
      }
      inFlight = sender
        .send(content!, lineTxnId(txnBase, n))
        .then(async (result) => {
          sent++;
          previous = result.event_id;
          await onSent({ ...result, line: n });
        })
        .catch((error: unknown) => {
          failure = { error };
          input.close(); // stop reading: a slow stdin must not hide the failure
        });
    }
    await inFlight;
  } finally {
    input.close();
  }
  if (failure) throw failure.error;
  io.signal.throwIfAborted();
  return sent;
}
