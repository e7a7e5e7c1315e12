import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll } from 'vitest';
import { MockAgent, type Dispatcher } from 'undici';
import type { TransportOptions } from '../../src/http-agent.js';
import type { Io } from '../../src/io.js';

export interface FakeIo extends Io {
  out: () => string;
  /** stdout as the bytes written (for binary output). */
  outBytes: () => Buffer;
  err: () => string;
  /** Delays the code asked for, in order. */
  sleeps: number[];
  /**
   * Every request mx made through this Io's MockAgent, answered or not ("GET /path?query"),
   * in order. `expect(io.requests()).toEqual([])` is how a test says "no request was made".
   */
  requests: () => string[];
  /** The pool every transport() call gets (a MockAgent unless the test gave one). */
  dispatcher: Dispatcher;
  /** The options of each transport() call, in order. */
  transports: TransportOptions[];
}

/** An Io for running main() in-process: captured output, a MockAgent, no real sleeping. */
export function fakeIo(options: Partial<Io> & { input?: string; dispatcher?: Dispatcher } = {}): FakeIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  let err = '';
  stdout.on('data', (chunk: Buffer) => outChunks.push(chunk));
  stderr.on('data', (chunk) => (err += chunk));
  const sleeps: number[] = [];
  const { input, dispatcher = mockAgent(), ...rest } = options;
  const transports: TransportOptions[] = [];
  return {
    stdout,
    stderr,
    stdin: Readable.from(input === undefined ? [] : [Buffer.from(input)]),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    stdinIsTTY: false,
    env: {},
    cwd: process.cwd(),
    dispatcher,
    transports,
    transport: async (transport) => {
      transports.push(transport);
      return dispatcher;
    },
    signal: new AbortController().signal,
    now: () => 1_700_000_000_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...rest,
    out: () => Buffer.concat(outChunks).toString('utf8'),
    outBytes: () => Buffer.concat(outChunks),
    err: () => err,
    sleeps,
    requests() {
      if (!(this.dispatcher instanceof TestMockAgent)) throw new Error('io.requests() needs the MockAgent that fakeIo() or mockAgent() made');
      return this.dispatcher.requests.map((r) => `${r.method} ${r.path}`);
    },
  };
}

export interface SeenRequest {
  method: string;
  origin: string;
  /** Path with query, as sent. */
  path: string;
}

/**
 * A MockAgent (no network) that also keeps a log of every request dispatched through it,
 * whether an interceptor matched or not, and counts the requests in flight at once.
 */
export class TestMockAgent extends MockAgent {
  readonly requests: SeenRequest[] = [];
  /** Requests dispatched whose answer (or error) has not reached mx yet. */
  inFlight = 0;
  /** The most requests that were in flight at the same time. */
  maxInFlight = 0;

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.requests.push({ method: options.method, origin: String(options.origin), path: options.path });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let ended = false;
    const end = () => {
      if (!ended) {
        ended = true;
        this.inFlight--;
      }
    };
    const endings = new Set<PropertyKey>(['onComplete', 'onError', 'onResponseEnd', 'onResponseError']);
    const tracked = new Proxy(handler, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        const bound = value.bind(target);
        return endings.has(property) ? (...args: unknown[]) => (end(), bound(...args)) : bound;
      },
    });
    return super.dispatch(options, tracked);
  }
}

/** Every MockAgent made since the last verifyMockAgents() (see test/unit/setup.ts). */
const agents: MockAgent[] = [];

/** A MockAgent that refuses real connections; verifyMockAgents() checks it after the test. */
export function mockAgent(): TestMockAgent {
  const agent = new TestMockAgent();
  agent.disableNetConnect();
  agents.push(agent);
  return agent;
}

/**
 * Run after each unit test (test/unit/setup.ts): fails the test if any interceptor it set up on a
 * mockAgent() was not used as often as it said (a persistent one: not at all). A test that
 * means "no request" says so with io.requests(), not with an interceptor left unused.
 */
export function verifyMockAgents(): void {
  const problems: string[] = [];
  for (const agent of agents.splice(0)) {
    try {
      agent.assertNoPendingInterceptors();
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new Error(`the test left MockAgent interceptors unused:\n${problems.join('\n')}`);
}

export const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };

/** Makes temp dirs for one test file; all of them are removed after its tests. */
export function tempDirMaker(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  return () => {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}

/**
 * stderr without the warning login and register give when the (fake) server has no key
 * endpoints: they set up the new device's encryption, and these tests' servers answer only the
 * account calls. Anything else on stderr stays.
 */
export function withoutEncryptionSetupWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !line.includes('could not set up encryption for this device yet'))
    .join('\n');
}
