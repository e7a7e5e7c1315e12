// Room keys that arrive after the event they unlock: the peer (matrix-js-sdk) speaks to Synapse
// through a proxy that answers its to-device PUTs at once and delivers them seconds later, as a
// slow federation link would. mx talks to Synapse directly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { startDeferringProxy, type DeferringProxy } from './deferring-proxy.js';
import { mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, homeserverUrl, parseJsonLines, runMx } from './helpers.js';

interface Line {
  event_id: string;
  type: string;
  content: Record<string, any>;
  encryption?: { decrypted: boolean; reason?: string };
}

/** How late the keys come; the waiting tail waits longer than that, the other never. */
const KEY_DELAY_MS = 3_000;

describe('room keys that come after their event', () => {
  let proxy: DeferringProxy;
  let peer: Peer;
  beforeAll(async () => {
    proxy = await startDeferringProxy(homeserverUrl());
    peer = await startPeer({ homeserverUrl: proxy.url, deviceName: 'late peer' });
  });
  afterAll(async () => {
    await peer?.stop();
    await proxy?.close();
  });

  it('mx tail holds the event until its key comes and writes it decrypted; with --key-wait 0 it writes it at once, and room messages decrypts it later', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    const mark = await runMx(['tail', '--until-idle'], opts);
    expect(mark.code, describeResult(['tail', '--until-idle'], mark)).toBe(0);

    proxy.deferToDevice(KEY_DELAY_MS);
    const eventId = await peer.sendText(roomId, 'worth the wait');
    const started = Date.now();
    const tail = await runMx(['tail', '--count', '1', '--room', roomId, '--key-wait', String(3 * KEY_DELAY_MS)], opts);
    expect(tail.code, describeResult(['tail'], tail)).toBe(0);
    // The key reached the server only after this tail had started (and met the event without it).
    expect(proxy.delivered).toHaveLength(1);
    expect(proxy.delivered[0]).toBeGreaterThan(started);
    expect(parseJsonLines<Line>(tail.stdout)).toEqual([
      expect.objectContaining({ event_id: eventId, type: 'm.room.message', content: expect.objectContaining({ body: 'worth the wait' }), encryption: expect.objectContaining({ decrypted: true }) }),
    ]);

    // A new room key, later still; this tail does not wait.
    proxy.deferToDevice(3 * KEY_DELAY_MS);
    await peer.crypto.forceDiscardSession(roomId);
    const laterId = await peer.sendText(roomId, 'not waited for');
    const quick = await runMx(['tail', '--count', '1', '--room', roomId, '--key-wait', '0'], opts);
    expect(quick.code, describeResult(['tail'], quick)).toBe(0);
    expect(parseJsonLines<Line>(quick.stdout)).toEqual([
      expect.objectContaining({ event_id: laterId, type: 'm.room.encrypted', encryption: expect.objectContaining({ decrypted: false, reason: 'missing_key' }) }),
    ]);
    // Once the key is there, the history decrypts.
    await expect.poll(() => proxy.delivered.length, { timeout: 6 * KEY_DELAY_MS }).toBe(2);
    const history = await runMx(['room', 'messages', roomId, '--limit', '1'], opts);
    expect(parseJsonLines<Line>(history.stdout)).toEqual([
      expect.objectContaining({ event_id: laterId, type: 'm.room.message', content: expect.objectContaining({ body: 'not waited for' }) }),
    ]);
  });
});
