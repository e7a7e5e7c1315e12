import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPersistentIndexedDb, type PersistentIndexedDb } from '../../src/durable-idb/persistent-idb.js';
import { decrypt, encrypt, FakeServer, megolmIndex, openMachine, receive, sdk, shareRoomKey } from './crypto-olm-harness.js';

// The real engine on the persisted store. Each PersistentIndexedDb stands for one mx process
// (its own in-memory IndexedDB); the WebAssembly module is shared, so each "process" makes its
// factory the global one before calling the engine.

const KEY = new Uint8Array(32).fill(3);
const ROOM = '!room:x';
let dir: string;
const opened: PersistentIndexedDb[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mx-crypto-olm-'));
  await sdk.initAsync();
});
afterAll(async () => {
  for (const p of opened) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

async function proc(name: string): Promise<PersistentIndexedDb> {
  const p = await openPersistentIndexedDb(path.join(dir, name));
  opened.push(p);
  return p;
}

/** withLock, with this process's IndexedDB installed for the engine. */
function locked<T>(p: PersistentIndexedDb, fn: (changed: boolean) => Promise<T>): Promise<T> {
  return p.withLock((changed) => {
    p.installGlobals();
    return fn(changed);
  });
}

describe('OlmMachine on the persistent store', () => {
  it('opens the same device (identity keys) from disk in a fresh process', async () => {
    const server = new FakeServer();
    const first = await proc('identity');
    const before = await locked(first, async () => {
      const m = await openMachine('mx', '@ann:x', 'ANNDEV', KEY);
      await server.drive(m, '@ann:x'); // uploads device and one-time keys: the account changes
      const keys = { curve25519: m.identityKeys.curve25519.toBase64(), ed25519: m.identityKeys.ed25519.toBase64() };
      m.close();
      return keys;
    });
    await first.close();

    const second = await proc('identity');
    const after = await locked(second, async (changed) => {
      expect(changed).toBe(true);
      const m = await openMachine('mx', '@ann:x', 'ANNDEV', KEY);
      const keys = { curve25519: m.identityKeys.curve25519.toBase64(), ed25519: m.identityKeys.ed25519.toBase64() };
      // Nothing left to upload: the uploaded state was persisted too.
      expect(await m.outgoingRequests()).toEqual([]);
      m.close();
      return keys;
    });
    expect(after).toEqual(before);
    expect(after.curve25519).toMatch(/^[A-Za-z0-9+/]{43}$/);
  });

  it('never reuses a Megolm message index across processes that share the store', async () => {
    const server = new FakeServer();
    const alice = await proc('alice');
    const aliceMachine = await locked(alice, async () => {
      const m = await openMachine('mx', '@alice:x', 'ALICEDEV', KEY);
      await server.drive(m, '@alice:x');
      return m;
    });

    // Process A: bob's first send creates and shares the session.
    const a = await proc('bob');
    const sent: Record<string, unknown>[] = [];
    let machineA = await locked(a, async () => {
      const m = await openMachine('mx', '@bob:x', 'BOBDEV', KEY);
      await server.drive(m, '@bob:x');
      await shareRoomKey(m, server, '@bob:x', ROOM, ['@alice:x', '@bob:x']);
      sent.push(await encrypt(m, ROOM, 'one'));
      return m;
    });

    // Process B, started later on the same store, sends twice.
    const b = await proc('bob');
    await locked(b, async (changed) => {
      expect(changed).toBe(true);
      const m = await openMachine('mx', '@bob:x', 'BOBDEV', KEY);
      await shareRoomKey(m, server, '@bob:x', ROOM, ['@alice:x', '@bob:x']); // already shared: nothing to send
      sent.push(await encrypt(m, ROOM, 'two'));
      sent.push(await encrypt(m, ROOM, 'three'));
      m.close();
    });
    expect(b.stats.scans).not.toContain('mx::matrix-sdk-crypto/inbound_group_sessions3');

    // Process A again: told that the store changed, it re-creates its machine.
    await locked(a, async (changed) => {
      expect(changed).toBe(true);
      // Its old machine would reuse index 1 (its cached session is behind): it is refused.
      await expect(encrypt(machineA, ROOM, 'stale')).rejects.toThrow(/re-create the OlmMachine/);
      machineA.close();
      machineA = await openMachine('mx', '@bob:x', 'BOBDEV', KEY);
      sent.push(await encrypt(machineA, ROOM, 'four'));
    });

    const indexes = sent.map(megolmIndex);
    expect(indexes).toEqual([...indexes].sort((x, y) => x - y));
    expect(new Set(indexes).size).toBe(indexes.length);
    expect(new Set(sent.map((c) => c.session_id)).size).toBe(1);

    // Alice, a long-running process, receives the key and reads all four.
    const bodies = await locked(alice, async (changed) => {
      expect(changed).toBe(false);
      await receive(aliceMachine, server, '@alice:x', 'ALICEDEV');
      const out = [];
      for (const c of sent) out.push((await decrypt(aliceMachine, ROOM, '@bob:x', c)).content.body as string);
      return out;
    });
    expect(bodies).toEqual(['one', 'two', 'three', 'four']);

    // And a fresh process of alice's finds the room key on disk.
    const alice2 = await proc('alice');
    await locked(alice2, async () => {
      const m = await openMachine('mx', '@alice:x', 'ALICEDEV', KEY);
      expect((await decrypt(m, ROOM, '@bob:x', sent[3]!)).content.body).toBe('four');
      m.close();
    });
    expect(alice2.stats.recordsLoaded).toBeGreaterThan(0);
    aliceMachine.close();
    machineA.close();
  }, 60_000);
});
