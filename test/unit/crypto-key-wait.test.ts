// The late-key wait of a stream (SyncCrypto with keyWait, as mx tail uses it), against a fake
// crypto session whose room keys arrive when the test says, on a fake clock.
import { describe, expect, it } from 'vitest';
import { clearEvent, MEGOLM, undecryptable, type RoomEvent } from '../../src/crypto/decrypted.js';
import type { CryptoSession } from '../../src/crypto/session.js';
import { SyncCrypto } from '../../src/crypto/sync-crypto.js';

const ROOM = '!room:hs.test';
const NOW = 1_700_000_000_000;

function encrypted(id: string, sessionId: string, sentAgoMs = 100): RoomEvent {
  return {
    event_id: `$${id}`,
    type: 'm.room.encrypted',
    sender: '@bob:hs.test',
    origin_server_ts: NOW - sentAgoMs,
    content: { algorithm: MEGOLM, ciphertext: `ciphertext of ${id}`, session_id: sessionId },
  } as RoomEvent;
}

/** Decrypts events of the sessions whose key it has; keys arrive at set times while a wait polls. */
class FakeSession {
  time = NOW;
  readonly keys = new Set<string>();
  /** session ID -> when its key arrives (fake clock). */
  readonly arrivals = new Map<string, number>();
  /** The timeout of every to-device poll. */
  readonly polls: number[] = [];
  withheld = new Set<string>();

  async decryptEvents(_roomId: string, events: RoomEvent[]): Promise<RoomEvent[]> {
    return events.map((event) => {
      const sessionId = String(event.content.session_id);
      if (this.withheld.has(sessionId)) return undecryptable(event, 'withheld', 'm.unverified');
      if (!this.keys.has(sessionId)) return undecryptable(event, 'missing_key', 'no key');
      return clearEvent(event, { type: 'm.room.message', content: { body: `clear ${event.event_id}` } }, { algorithm: MEGOLM, decrypted: true });
    });
  }

  /** A long poll: returns when the next key arrives, or after `timeoutMs`. */
  async waitForToDevice(timeoutMs: number): Promise<void> {
    this.polls.push(timeoutMs);
    const next = [...this.arrivals].filter(([id]) => !this.keys.has(id)).sort((a, b) => a[1] - b[1])[0];
    if (next && next[1] <= this.time + timeoutMs) {
      this.time = Math.max(this.time, next[1]);
      this.keys.add(next[0]);
    } else {
      this.time += timeoutMs;
    }
  }
}

function streamCrypto(session: FakeSession, ms = 5000): SyncCrypto {
  return new SyncCrypto(async () => session as unknown as CryptoSession, {
    keyWait: { ms, signal: new AbortController().signal, now: () => session.time },
  });
}

describe('a stream waits for late room keys', () => {
  it('holds an event until its key comes, then gives it decrypted', async () => {
    const session = new FakeSession();
    session.arrivals.set('S1', NOW + 1500);
    const out = await streamCrypto(session).decrypt(ROOM, [encrypted('a', 'S1')]);
    expect(out[0]).toMatchObject({ type: 'm.room.message', content: { body: 'clear $a' }, encryption: { decrypted: true } });
    expect(session.time).toBe(NOW + 1500);
  });

  it('gives up after the wait, with the reason, and does not wait for that session again', async () => {
    const session = new FakeSession();
    const crypto = streamCrypto(session);
    const first = await crypto.decrypt(ROOM, [encrypted('a', 'S1')]);
    expect(first[0]).toMatchObject({ type: 'm.room.encrypted', encryption: { decrypted: false, reason: 'missing_key' } });
    expect(session.time).toBe(NOW + 5000);
    const polls = session.polls.length;
    expect(polls).toBeGreaterThan(0);
    const later = await crypto.decrypt(ROOM, [{ ...encrypted('b', 'S1'), origin_server_ts: session.time - 10 }]);
    expect(later[0]!.encryption).toMatchObject({ reason: 'missing_key' });
    expect(session.polls).toHaveLength(polls);
    expect(session.time).toBe(NOW + 5000);
  });

  it('waits once per batch for several sessions, and keeps the order of the events', async () => {
    const session = new FakeSession();
    session.keys.add('S0');
    session.arrivals.set('S1', NOW + 500);
    session.arrivals.set('S2', NOW + 1200);
    const out = await streamCrypto(session).decrypt(ROOM, [encrypted('a', 'S1'), encrypted('b', 'S0'), encrypted('c', 'S2')]);
    expect(out.map((e) => e.content.body)).toEqual(['clear $a', 'clear $b', 'clear $c']);
    expect(session.time).toBe(NOW + 1200);
  });

  it('does not wait for old events, other reasons, or with the wait turned off', async () => {
    const session = new FakeSession();
    session.withheld.add('SW');
    const crypto = streamCrypto(session);
    const out = await crypto.decrypt(ROOM, [encrypted('old', 'S1', 5 * 60_000), encrypted('w', 'SW')]);
    expect(out.map((e) => e.encryption?.reason)).toEqual(['missing_key', 'withheld']);
    const off = new SyncCrypto(async () => session as unknown as CryptoSession);
    expect((await off.decrypt(ROOM, [encrypted('new', 'S9')]))[0]!.encryption?.reason).toBe('missing_key');
    expect(session.polls).toEqual([]);
  });
});
