// A logger for matrix-js-sdk that keeps test output quiet: every line goes into a ring buffer
// (shown in the peer's timeout errors), and lines at or above MX_PEER_LOG (trace, debug,
// info, warn, error; default: none) are also written to stderr with the peer's name.
import type { Logger } from 'matrix-js-sdk/lib/logger.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** Warnings and errors the SDK logs in every normal run. */
const NOISE = /Adding default global \w+ push rule|\[MatrixRTCSessionManager\] Got room state event for unknown room/;

export function printLevel(): number {
  const wanted = (process.env.MX_PEER_LOG ?? '').toLowerCase();
  const i = LEVELS.indexOf(wanted as Level);
  return i < 0 ? LEVELS.length : i;
}

function format(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

export class PeerLog {
  readonly lines: string[] = [];
  private readonly threshold = printLevel();
  constructor(
    private readonly name: string,
    private readonly keep = 200,
  ) {}

  add(level: Level, namespace: string, args: unknown[]): void {
    const line = `${level.toUpperCase()} ${namespace ? `${namespace} ` : ''}${args.map(format).join(' ')}`;
    this.lines.push(line);
    if (this.lines.length > this.keep) this.lines.shift();
    if (LEVELS.indexOf(level) >= this.threshold) process.stderr.write(`[peer ${this.name}] ${line}\n`);
  }

  /** The last `n` warnings and errors (without the SDK's routine noise), shortened, for error messages. */
  recentProblems(n = 15): string[] {
    return this.lines
      .filter((l) => (l.startsWith('WARN') || l.startsWith('ERROR')) && !NOISE.test(l))
      .slice(-n)
      .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
  }

  logger(namespace = ''): Logger {
    const at =
      (level: Level) =>
      (...args: unknown[]) =>
        this.add(level, namespace, args);
    return {
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      getChild: (child: string) => this.logger(namespace ? `${namespace}:${child}` : child),
    };
  }
}

/** Lines from matrix-js-sdk's global logger, which some of its parts use instead of the client's. */
export const sdkLog = new PeerLog('sdk');

let globalQuieted = false;
/**
 * matrix-js-sdk's global logger (loglevel, level DEBUG, straight to console) ignores the
 * client's `logger` option in many places (sync, scheduler, room encryptor). Point its method
 * factory at sdkLog; children made later by getChild copy the factory. There are no
 * module-level children in 37.5.0, so this catches everything when done before any client.
 */
export function quietGlobalLogger(globalLogger: unknown): void {
  if (globalQuieted) return;
  globalQuieted = true;
  const root = globalLogger as {
    methodFactory: (methodName: string, level: number, loggerName: string | symbol) => (...args: unknown[]) => void;
    rebuild(): void;
  };
  root.methodFactory = function (this: { prefix?: string }, methodName: string) {
    const level: Level = (LEVELS as readonly string[]).includes(methodName) ? (methodName as Level) : 'debug';
    const prefix = this?.prefix ?? '';
    return (...args: unknown[]) => sdkLog.add(level, prefix, args);
  };
  root.rebuild();
}
