// Encryption's promises under faults and concurrency: never lose a key (kill -9 of a tail
// while keys arrive), never reuse a Megolm message index (a tail and 20 sends at once in one
// profile), a damaged crypto store is reported and left alone.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { megolmIndex, mxInPeerRoom } from './encryption-helpers.js';
import { startFaultProxy } from './fault-proxy.js';
import { describeResult, homeserverUrl, mxJson, parseJsonLines, registerUser, runMx, startMx, waitUntil } from './helpers.js';

interface Line {
  event_id: string;
  type: string;
  room_id: string;
  content: Record<string, any>;
  encryption?: { decrypted: boolean; reason?: string };
}


describe('encryption under faults', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'peer' });
  });
  afterAll(() => peer?.stop());

  it('kill -9 of a tail while room keys arrive loses no key: every message decrypts after the restart', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    await runMx(['tail', '--until-idle'], opts);
    const tail = startMx(['tail', '--timeout', '1000'], { ...opts, timeoutMs: 120_000 });
    const sent: string[] = [];
    // A new Megolm session for every message: each brings a room key of its own.
    for (let i = 0; i < 12; i++) {
      await peer.client.getCrypto()!.forceDiscardSession(roomId);
      sent.push(await peer.sendText(roomId, `message ${i}`));
      if (i === 5) {
        await waitUntil(() => parseJsonLines<Line>(tail.stdout()).some((l) => l.room_id === roomId), 'the tail to decrypt something', 60_000);
        tail.child.kill('SIGKILL');
      }
    }
    await tail.done;
    // The restart replays from the saved position (at least once); the history decrypts whole.
    const after = parseJsonLines<Line>((await runMx(['tail', '--until-idle'], opts)).stdout).filter((l) => l.room_id === roomId);
    const seen = new Map([...parseJsonLines<Line>(tail.stdout()), ...after].filter((l) => l.room_id === roomId).map((l) => [l.event_id, l]));
    for (const id of sent) expect(seen.get(id)?.content.body, id).toMatch(/^message \d+$/);
    const history = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f'], opts)).stdout);
    const messages = history.filter((e) => sent.includes(e.event_id));
    expect(messages.map((e) => e.content.body)).toEqual(sent.map((_, i) => `message ${i}`));
  }, 180_000);

  it('a tail and 20 concurrent sends in one profile: the peer decrypts all, no message index is used twice, the store is intact', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    await runMx(['tail', '--until-idle'], opts);
    const tail = startMx(['tail', '--timeout', '1000'], { ...opts, timeoutMs: 170_000 });
    const sends = await Promise.all(Array.from({ length: 20 }, (_, i) => runMx(['send', roomId, `concurrent ${i}`], { ...opts, timeoutMs: 150_000 })));
    for (const r of sends) expect(r.code, describeResult(['send'], r)).toBe(0);
    const ids = sends.map((r) => JSON.parse(r.stdout).event_id as string);

    const got = await peer.waitForDecryptedMessages(roomId, (m) => ids.includes(m.event_id), 60_000).then(() => peer.decryptedMessages(roomId));
    await waitUntil(async () => (await peer.decryptedMessages(roomId)).filter((m) => ids.includes(m.event_id)).length === 20, 'the peer to decrypt all 20', 60_000);
    const bodies = (await peer.decryptedMessages(roomId)).filter((m) => ids.includes(m.event_id)).map((m) => m.content.body);
    expect(new Set(bodies)).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `concurrent ${i}`)));
    expect(got.length).toBeGreaterThan(0);

    const raw = await mxJson<{ chunk: { event_id: string; content: { session_id: string; ciphertext: string } }[] }>(
      ['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100`], opts,
    );
    const indexes = raw.chunk.filter((e) => ids.includes(e.event_id)).map((e) => `${e.content.session_id}/${megolmIndex(e.content.ciphertext)}`);
    expect(indexes).toHaveLength(20);
    expect(new Set(indexes).size).toBe(20);

    tail.child.kill('SIGINT');
    const stopped = await tail.done;
    expect(stopped.signal).toBeNull();
    // The store opens and holds the keys: mx reads its own messages back.
    const history = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--limit', '30'], opts)).stdout);
    expect(history.filter((e) => ids.includes(e.event_id)).every((e) => e.type === 'm.room.message')).toBe(true);
  }, 180_000);

  it('a send whose answer was lost, run again with its --txn-id, sends the same ciphertext: one event, no index spent', async () => {
    const proxy = await startFaultProxy(homeserverUrl());
    try {
      const user = await registerUser({ homeserver: proxy.url });
      const opts = { configDir: user.configDir };
      const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], opts);
      const first = await mxJson<{ event_id: string }>(['send', roomId, 'first'], opts);
      proxy.dropAfterForwarding('/send/m.room.encrypted/', 1);
      const lost = await runMx(['send', roomId, 'once', '--txn-id', 'nightly-1', '--retries', '0'], opts);
      expect(lost.code, describeResult(['send'], lost)).toBe(7);
      const again = await mxJson<{ event_id: string }>(['send', roomId, 'once', '--txn-id', 'nightly-1'], opts);
      const third = await mxJson<{ event_id: string }>(['send', roomId, 'third'], opts);

      const raw = await mxJson<{ chunk: { event_id: string; type: string; content: { ciphertext: string } }[] }>(
        ['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=f&limit=100`], opts,
      );
      const encrypted = raw.chunk.filter((e) => e.type === 'm.room.encrypted');
      expect(encrypted.map((e) => e.event_id)).toEqual([first.event_id, again.event_id, third.event_id]);
      const [a, b, c] = encrypted.map((e) => megolmIndex(e.content.ciphertext));
      expect([b! - a!, c! - b!]).toEqual([1, 1]);
      const history = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f', '--type', 'm.room.message'], opts)).stdout);
      expect(history.map((e) => e.content.body)).toEqual(['first', 'once', 'third']);
    } finally {
      await proxy.close();
    }
  });

  it('a damaged crypto store is reported (exit 8) and left byte for byte', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    expect((await runMx(['send', roomId, 'before the damage'], opts)).code).toBe(0);
    const storeDir = path.join(user.configDir, 'crypto', readdirSync(path.join(user.configDir, 'crypto'))[0]!);
    const manifest = path.join(storeDir, 'MANIFEST');
    const bytes = readFileSync(manifest);
    const damaged = Buffer.from(bytes);
    for (let i = 40; i < 60 && i < damaged.length; i++) damaged[i] ^= 0xff;
    writeFileSync(manifest, damaged);

    const r = await runMx(['send', roomId, 'after the damage'], opts);
    expect(r.code, describeResult(['send'], r)).toBe(8);
    expect(JSON.parse(r.stderr).error.message).toMatch(/crypto store|damaged|corrupt/i);
    expect(readFileSync(manifest).equals(damaged)).toBe(true);
    // Nothing went out in clear either.
    const raw = await mxJson<{ chunk: { type: string; content: { body?: string } }[] }>(
      ['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=10`], opts,
    );
    expect(raw.chunk.some((e) => e.content.body === 'after the damage')).toBe(false);
  });
});
