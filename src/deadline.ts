/**
 * --max-time: the whole command, its retries and waits included, ends by then with exit code 7
 * and one line. The command is told through its abort signal (requests and sleeps stop); one
 * that does not wind down within a grace period is left behind (main returns anyway).
 */
import { ExitCode, MxError } from './errors.js';

/** How long a command may take to wind down (close its crypto store) after its deadline. */
const GRACE_MS = 3_000;

/** The deadline was reached; `doing` says what did not happen in time ("whoami: no answer from URL"), when known. */
export class DeadlineReached extends MxError {
  constructor(
    readonly limit: { ms: number; source: string },
    doing?: string,
  ) {
    const limitText = `${limit.source} (${formatSeconds(limit.ms)})`;
    super(doing ? `${doing} within ${limitText}` : `gave up: ${limitText} reached`, ExitCode.temporary, { max_time_ms: limit.ms });
    this.name = 'DeadlineReached';
  }
}

export class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  /** Aborted by the outer signal (SIGINT, SIGTERM, a closed pipe) or at the deadline. */
  readonly signal: AbortSignal;

  constructor(
    outer: AbortSignal,
    readonly limit: { ms: number; source: string },
  ) {
    this.signal = AbortSignal.any([outer, this.controller.signal]);
    this.timer = setTimeout(() => this.controller.abort(new DeadlineReached(limit)), limit.ms);
  }

  get reached(): boolean {
    return this.controller.signal.aborted;
  }

  /** What to report for `error`, a command's failure after the deadline. */
  failure(error: unknown): DeadlineReached {
    return error instanceof DeadlineReached ? error : (this.controller.signal.reason as DeadlineReached);
  }

  /** `work`, or, when it has not settled a grace period after the deadline, the deadline's error. */
  async bound<T>(work: Promise<T>): Promise<T> {
    let graceTimer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<never>((_resolve, reject) => {
      const afterGrace = () => {
        graceTimer = setTimeout(() => reject(this.controller.signal.reason), GRACE_MS);
      };
      if (this.reached) afterGrace();
      else this.controller.signal.addEventListener('abort', afterGrace, { once: true });
    });
    givenUp.catch(() => {}); // rejected only when raced below
    try {
      return await Promise.race([work, givenUp]);
    } finally {
      clearTimeout(graceTimer);
      clearTimeout(this.timer);
    }
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
