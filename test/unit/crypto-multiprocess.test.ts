import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPersistentIndexedDb } from '../../src/durable-idb/persistent-idb.js';
import { bundleForChildProcess } from './bundle-module.js';
import { get, keys, openDb } from './crypto-idb-helpers.js';
import { FakeServer, openMachine, sdk, shareRoomKey } from './crypto-olm-harness.js';

// Real processes on one store, as mx runs them: several at once, and some killed with SIGKILL.

let worker: { url: string; cleanup: () => void };
let dir: string;

beforeAll(async () => {
  worker = await bundleForChildProcess('test/unit/crypto-child-worker.ts');
  dir = mkdtempSync(path.join(tmpdir(), 'mx-crypto-mp-'));
}, 60_000);
afterAll(() => {
  worker.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Child {
  // No NODE_EXTRA_CA_CERTS etc.: every child start would read the CA bundle (slow here).
  const proc = spawn(process.execPath, [fileURLToPath(worker.url), ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  const lines: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, lines, stderr, exited };
}

async function readKv(folder: string): Promise<{ keys: string[]; counter: number }> {
  // A killed child leaves its lock behind: taken over once stale (2 s, the minimum).
  const p = await openPersistentIndexedDb(folder, { staleMs: 2000 });
  try {
    return await p.withLock(async () => {
      const db = await openDb(p.factory, 'd');
      const r = { keys: (await keys(db, 'kv')) as string[], counter: (await get(db, 'kv', 'counter')) as number };
      db.close();
      return r;
    });
  } finally {
    await p.close();
  }
}

describe('several processes on one store', () => {
  it('loses no write when processes write concurrently (and read-modify-write a shared counter)', async () => {
    const folder = path.join(dir, 'concurrent');
    const children = ['a', 'b', 'c', 'd'].map((name) => start(['writer', folder, name, '15']));
    for (const c of children) expect({ exit: await c.exited, stderr: c.stderr.join('') }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    const { keys: stored, counter } = await readKv(folder);
    for (const name of ['a', 'b', 'c', 'd']) for (let i = 0; i < 15; i++) expect(stored).toContain(`${name}-${i}`);
    expect(counter).toBe(60);
  }, 120_000);

  it('keeps every acknowledged write, and opens, after kill -9 at random moments', async () => {
    const folder = path.join(dir, 'killed');
    let acked = 0;
    const ackedKeys: string[] = [];
    for (let round = 0; round < 6; round++) {
      const children = [start(['writer', folder, `r${round}x`, '100000']), start(['writer', folder, `r${round}y`, '100000'])];
      // Kill at a random moment once writes are flowing: mid-append, mid-flush, mid-lock.
      while (children.some((c) => c.lines.length === 0)) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      for (const c of children) c.proc.kill('SIGKILL');
      for (const c of children) {
        const exit = await c.exited;
        expect({ signal: exit.signal, stderr: c.stderr.join('') }).toEqual({ signal: 'SIGKILL', stderr: '' });
        const mine = c.lines.filter((l) => l.startsWith('ack ')).map((l) => l.slice(4));
        acked += mine.length;
        ackedKeys.push(...mine);
      }
      const { keys: stored, counter } = await readKv(folder);
      for (const k of ackedKeys) expect(stored).toContain(k);
      // A write can be durable without its ack having been printed (killed just after the flush).
      expect(counter).toBeGreaterThanOrEqual(acked);
      expect(counter).toBeLessThanOrEqual(acked + 2 * (round + 1));
      expect(stored.length - 1).toBe(counter); // every increment came with its own key
    }
    expect(acked).toBeGreaterThan(10);
  }, 120_000);
});

describe('Megolm message indexes with several processes and crashes', () => {
  it('never repeats an index sent by any process, concurrent or killed', async () => {
    const folder = path.join(dir, 'bob');
    const server = new FakeServer();
    await sdk.initAsync();
    // Set-up in this process: alice uploads keys, bob shares a room key with her.
    const alice = await openPersistentIndexedDb(path.join(dir, 'alice'));
    const bob = await openPersistentIndexedDb(folder);
    await alice.withLock(async () => {
      alice.installGlobals();
      const m = await openMachine('mx', '@alice:x', 'ALICEDEV', new Uint8Array(32).fill(3));
      await server.drive(m, '@alice:x');
      m.close();
    });
    await bob.withLock(async () => {
      bob.installGlobals();
      const m = await openMachine('mx', '@bob:x', 'BOBDEV', new Uint8Array(32).fill(3));
      await server.drive(m, '@bob:x');
      // The children encrypt with this one session (they never share a new one), however many
      // messages the killed ones got through: it must not expire after the default 100.
      const settings = new sdk.EncryptionSettings();
      settings.rotationPeriodMessages = 1_000_000n;
      await shareRoomKey(m, server, '@bob:x', '!room:x', ['@alice:x', '@bob:x'], settings);
      m.close();
    });
    await alice.close();
    await bob.close();

    const sent: number[] = [];
    const indexesOf = (c: Child) => c.lines.filter((l) => l.startsWith('index ')).map((l) => Number(l.slice(6)));
    // Three senders at once.
    const together = [start(['encrypt', folder, '8']), start(['encrypt', folder, '8']), start(['encrypt', folder, '8'])];
    for (const c of together) {
      expect({ exit: await c.exited, stderr: c.stderr.join('') }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
      sent.push(...indexesOf(c));
    }
    expect(sent).toHaveLength(24);
    // Senders killed at random moments; what they printed counts as sent.
    for (let round = 0; round < 3; round++) {
      const c = start(['encrypt', folder, '100000']);
      while (indexesOf(c).length < 2) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, Math.random() * 100));
      c.proc.kill('SIGKILL');
      await c.exited;
      sent.push(...indexesOf(c));
    }
    const after = start(['encrypt', folder, '1']);
    expect({ exit: (await after.exited).code, stderr: after.stderr.join('') }).toEqual({ exit: 0, stderr: '' });
    sent.push(...indexesOf(after));
    expect(new Set(sent).size).toBe(sent.length);
    expect(indexesOf(after)[0]).toBeGreaterThan(Math.max(...sent.slice(0, -1)));
  }, 180_000);
});
