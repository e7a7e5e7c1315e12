// Encryption's promises when the disk fails or the process dies at each of its writes: a full
// disk (ENOSPC, and the disk stays full) or a kill -9 at the Nth write of a login, a send with
// --txn-id and a tail, for every N (test/e2e/disk-faults.cjs makes the fault). After each, with
// the fault gone, mx goes on: never a silent new identity, never a message index used twice,
// never a lost room key, and every failure is exit 8 with one line saying what happened.
import { chownSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { megolmIndex, mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, expectExit, homeserverUrl, mxJson, parseJsonLines, registerUser, repoRoot, runMx, tempConfigDir, waitUntil, type MxResult, type RunMxOptions } from './helpers.js';

const INJECTOR = path.join(repoRoot, 'test', 'e2e', 'disk-faults.cjs');
const KILLED = 137;

type Fault = 'enospc' | 'kill' | 'count';

/** The environment that makes the Nth write under `dir` fail (and reports the count to `report`). */
function faultEnv(dir: string, fault: Fault, at = 0, report?: string): Record<string, string> {
  return {
    NODE_OPTIONS: `--require ${INJECTOR}`,
    MX_FAULT_DIR: dir,
    MX_FAULT: fault === 'count' ? 'count' : `${fault}:${at}`,
    ...(report ? { MX_FAULT_REPORT: report } : {}),
  };
}

/** How many writes under `dir` mx makes for `args` (nothing fails). */
async function countWrites(args: string[], dir: string, opts: RunMxOptions): Promise<number> {
  const report = path.join(tempConfigDir(), 'writes');
  const r = await runMx(args, { ...opts, env: { ...opts.env, ...faultEnv(dir, 'count', 0, report) } });
  expect(r.code, describeResult(args, r)).toBe(0);
  return Number(readFileSync(report, 'utf8'));
}

/** A run that met its fault: exit 8 with one line (ENOSPC), or killed; or done before the fault came. */
function expectFaultOutcome(r: MxResult, fault: Fault): void {
  if (r.code === 0) return;
  if (fault === 'kill') expect(r.code, describeResult(r.args, r)).toBe(KILLED);
  else expectExit(r, 8, /no space left on (the )?device/i);
}

/** Runs `count` jobs, `width` at a time. */
async function inBatches(count: number, width: number, job: (n: number) => Promise<void>): Promise<void> {
  for (let first = 1; first <= count; first += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - first + 1) }, (_, i) => job(first + i)));
  }
}

/** The (session, message index) of each encrypted event of `sender` in a room, from the raw history. */
async function megolmSlots(roomId: string, sender: string, opts: RunMxOptions): Promise<string[]> {
  const raw = await mxJson<{ chunk: { sender: string; type: string; content: { session_id: string; ciphertext: string } }[] }>(
    ['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1000`], opts,
  );
  return raw.chunk.filter((e) => e.type === 'm.room.encrypted' && e.sender === sender).map((e) => `${e.content.session_id}/${megolmIndex(e.content.ciphertext)}`);
}

describe('a full disk or a kill -9 at every write', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'peer' });
  });
  afterAll(() => peer?.stop());

  /** Waits until the peer has decrypted every one of `ids`. */
  async function peerDecrypts(roomId: string, ids: string[]): Promise<void> {
    await waitUntil(async () => {
      const decrypted = new Set((await peer.decryptedMessages(roomId)).map((m) => m.event_id));
      return ids.every((id) => decrypted.has(id));
    }, `the peer to decrypt all ${ids.length} messages`, 90_000);
  }

  it('login: after a fault at any of its writes the device still encrypts, and the peer decrypts what it sends', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const login = (configDir: string, env: Record<string, string>) =>
      runMx(['login', user.userId, '--password-stdin', '--homeserver', user.homeserver], { configDir, input: user.password, env });
    // The writes of the device's crypto store (those of the profile store come before them).
    const probe = tempConfigDir();
    const writes = await countWrites(['login', user.userId, '--password-stdin', '--homeserver', user.homeserver], path.join(probe, 'crypto'), { configDir: probe, input: user.password });
    expect(writes).toBeGreaterThan(10);
    const sent: string[] = [];
    // A full disk at every write; a kill at every third (each kill ends the run where it is,
    // so neighbouring writes mostly test the same order of things).
    const cases = [...Array.from({ length: writes }, (_, i) => ['enospc', i + 1] as const), ...Array.from({ length: Math.ceil(writes / 3) }, (_, i) => ['kill', 3 * i + 1] as const)];
    await inBatches(cases.length, 4, async (k) => {
      const [fault, n] = cases[k - 1]!;
      const configDir = tempConfigDir();
      const faulted = await login(configDir, faultEnv(path.join(configDir, 'crypto'), fault, n));
      expectFaultOutcome(faulted, fault);
      const send = await runMx(['send', roomId, `after a ${fault} at write ${n} of a login`], { configDir });
      expect(send.code, `${fault} at write ${n}: ${describeResult(send.args, send)}`).toBe(0);
      sent.push(JSON.parse(send.stdout).event_id);
    });
    await peerDecrypts(roomId, sent);
  }, 400_000);

  it('send --txn-id: after a full disk at any of its writes, a send in between and the re-run, no message index is used twice and all decrypt', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    const crypto = path.join(user.configDir, 'crypto');
    expect((await runMx(['send', roomId, 'first'], opts)).code).toBe(0);
    const writes = await countWrites(['send', roomId, 'counted', '--txn-id', 'counted'], crypto, opts);
    const ids: string[] = [];
    for (let n = 1; n <= writes; n++) {
      const txn = `nightly-${n}`;
      const faulted = await runMx(['send', roomId, `A${n}`, '--txn-id', txn], { ...opts, env: faultEnv(crypto, 'enospc', n) });
      expectFaultOutcome(faulted, 'enospc');
      const between = await mxJson<{ event_id: string }>(['send', roomId, `B${n}`], opts);
      const rerun = await mxJson<{ event_id: string }>(['send', roomId, `A${n}`, '--txn-id', txn], opts);
      // A run that got its answer was one event: the re-run names it.
      if (faulted.code === 0) expect(rerun.event_id).toBe(JSON.parse(faulted.stdout).event_id);
      ids.push(between.event_id, rerun.event_id);
    }
    const slots = await megolmSlots(roomId, user.userId, opts);
    expect(new Set(slots).size, `every encrypted event has a (session, index) of its own: ${slots.join(' ')}`).toBe(slots.length);
    await peerDecrypts(roomId, ids);
    // Every PUT was answered: nothing is left kept for a re-run.
    const store = path.join(crypto, readdirSync(crypto)[0]!);
    expect(existsSync(path.join(store, 'outbox')) ? readdirSync(path.join(store, 'outbox')) : []).toEqual([]);
  }, 300_000);

  it('tail: a full disk at any of its writes is exit 8 and loses nothing: the next tail prints what it did not, decrypted', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    expect((await runMx(['tail', '--until-idle'], opts)).code).toBe(0);
    const bodies = (r: MxResult) =>
      parseJsonLines<{ room_id: string; type: string; content: { body?: string } }>(r.stdout).filter((l) => l.room_id === roomId && l.type === 'm.room.message').map((l) => l.content.body);
    // Each round brings a room key of its own (a new Megolm session) and a message.
    const round = async (name: string) => {
      await peer.client.getCrypto()!.forceDiscardSession(roomId);
      await peer.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body: name });
    };
    await round('counted');
    const writes = await countWrites(['tail', '--until-idle'], user.configDir, opts);
    expect(writes).toBeGreaterThan(3);
    for (let n = 1; n <= writes; n++) {
      await round(`T${n}`);
      const faulted = await runMx(['tail', '--until-idle'], { ...opts, env: faultEnv(user.configDir, 'enospc', n) });
      expectFaultOutcome(faulted, 'enospc');
      const after = await runMx(['tail', '--until-idle'], opts);
      expect(after.code, describeResult(after.args, after)).toBe(0);
      expect([...bodies(faulted), ...bodies(after)], `a full disk at write ${n} of a tail`).toContain(`T${n}`);
    }
  }, 300_000);
});

describe('a crypto store that cannot be used', () => {
  it('a store with an empty MANIFEST, or one that lost its account, is exit 8 and left as it is: never a new identity', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], opts);
    expect((await runMx(['send', roomId, 'before'], opts)).code).toBe(0);
    const crypto = path.join(user.configDir, 'crypto');
    const store = path.join(crypto, readdirSync(crypto)[0]!);
    const manifest = path.join(store, 'MANIFEST');
    const header = readFileSync(manifest).subarray(0, 16);
    const identity = readFileSync(path.join(store, 'identity.json'), 'utf8');

    writeFileSync(manifest, '');
    expectExit(await runMx(['send', roomId, 'empty manifest'], opts), 8, /MANIFEST is damaged: it is empty/);
    expect(readFileSync(manifest)).toHaveLength(0);

    // What a store that lost its account looks like: a valid, empty store beside the identity record.
    for (const name of readdirSync(store)) if (name !== 'identity.json') rmSync(path.join(store, name), { recursive: true });
    writeFileSync(manifest, header);
    expectExit(await runMx(['send', roomId, 'lost account'], opts), 8, /no longer holds the keys of device/);
    expect(readdirSync(store).filter((name) => !name.startsWith('lock')).sort()).toEqual(['MANIFEST', 'identity.json']);
    expect(readFileSync(manifest)).toEqual(header);
    expect(readFileSync(path.join(store, 'identity.json'), 'utf8')).toBe(identity);
    // Without the record too, the server's keys for the device say the store lost them.
    rmSync(path.join(store, 'identity.json'));
    expectExit(await runMx(['send', roomId, 'lost account and record'], opts), 8, /does not hold the keys that device \S+ has on the server/);
    expect(readdirSync(store).filter((name) => !name.startsWith('lock'))).toEqual(['MANIFEST']);
    // The way out the message names: a new device.
    expect((await runMx(['logout'], opts)).code).toBe(0);
    expect((await runMx(['login', user.userId, '--password-stdin'], { ...opts, input: user.password })).code).toBe(0);
    expect((await runMx(['send', roomId, 'on a new device'], opts)).code).toBe(0);
  });

  it('a file where the crypto folder goes, or a store of another user, is exit 8 with one line saying so', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], opts);
    const crypto = path.join(user.configDir, 'crypto');
    const store = path.join(crypto, readdirSync(crypto)[0]!);
    if (process.getuid?.() === 0) {
      chownSync(store, 65534, 65534);
      expectExit(await runMx(['send', roomId, 'hello'], opts), 8, /belongs to another user \(uid 65534; mx runs as uid 0\)/);
      chownSync(store, 0, 0);
    }
    rmSync(crypto, { recursive: true });
    writeFileSync(crypto, 'not a folder');
    expectExit(await runMx(['send', roomId, 'hello'], opts), 8, /crypto is a file where mx keeps a folder of its own: remove it/);
  });
});

describe('a recovery key on a full disk', () => {
  it('crypto setup --recovery-key-file that cannot write the key leaves the account without secret storage; the next set-up works and its key recovers', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir, input: user.password };
    const keys = tempConfigDir();
    const file = path.join(keys, 'recovery-key.txt');
    const args = ['crypto', 'setup', '--password-stdin', '--recovery-key-file', file];
    expectExit(await runMx(args, { ...opts, env: faultEnv(keys, 'enospc', 1) }), 8, /no space left on (the )?device/i);
    expect(existsSync(file)).toBe(false);
    const status = await mxJson<{ secret_storage: { on_account: boolean } }>(['crypto', 'status'], { configDir: user.configDir });
    expect(status.secret_storage.on_account).toBe(false);

    expect((await runMx(args, opts)).code).toBe(0);
    // A second device of the account recovers with the key the file holds.
    const other = tempConfigDir();
    expect((await runMx(['login', user.userId, '--password-stdin', '--homeserver', user.homeserver], { configDir: other, input: user.password })).code).toBe(0);
    const recovered = await runMx(['crypto', 'recover', '--recovery-key-stdin'], { configDir: other, input: readFileSync(file, 'utf8') });
    expect(recovered.code, describeResult(recovered.args, recovered)).toBe(0);
  });
});
