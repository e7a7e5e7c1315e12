import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll } from 'vitest';
import { MockAgent } from 'undici';
import type { Io } from '../../src/io.js';

export interface FakeIo extends Io {
  out: () => string;
  /** stdout as the bytes written (for binary output). */
  outBytes: () => Buffer;
  err: () => string;
  /** Delays the code asked for, in order. */
  sleeps: number[];
}

/** An Io for running main() in-process: captured output, a MockAgent, no real sleeping. */
export function fakeIo(options: Partial<Io> & { input?: string } = {}): FakeIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  let err = '';
  stdout.on('data', (chunk: Buffer) => outChunks.push(chunk));
  stderr.on('data', (chunk) => (err += chunk));
  const sleeps: number[] = [];
  const { input, ...rest } = options;
  return {
    stdout,
    stderr,
    stdin: Readable.from(input === undefined ? [] : [Buffer.from(input)]),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    stdinIsTTY: false,
    env: {},
    cwd: process.cwd(),
    dispatcher: mockAgent(),
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
  };
}

export function mockAgent(): MockAgent {
  const agent = new MockAgent();
  agent.disableNetConnect();
  return agent;
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
