// A room key Element withholds, in words: Element (the peer asElement) shares room keys only
// with devices their owner cross-signed, and tells the others why not (m.room_key.withheld,
// code m.unverified). mx shows that code with what it means and what to do, and doing it works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, homeserverUrl, parseJsonLines, runMx } from './helpers.js';

interface Line {
  event_id: string;
  type: string;
  content: Record<string, any>;
  encryption?: { decrypted: boolean; reason?: string; withheld_code?: string; message?: string; engine_message?: string };
}

async function roomMessages(configDir: string, roomId: string, output: 'json' | 'text') {
  const args = ['room', 'messages', roomId, '--limit', '20', ...(output === 'text' ? ['-o', 'text'] : [])];
  const r = await runMx(args, { configDir });
  expect(r.code, describeResult(args, r)).toBe(0);
  return r.stdout;
}

describe('a room key Element withholds from a device its owner did not cross-sign', () => {
  let element: Peer;
  beforeAll(async () => {
    element = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'element', asElement: true });
  });
  afterAll(async () => {
    await element?.stop();
  });

  it('shows as withheld, m.unverified, in words that name the remedy; after `mx crypto setup` the next message decrypts', async () => {
    // mxInPeerRoom registers with --no-crypto-setup: a device with no cross-signing, as before.
    const { user, deviceId, roomId } = await mxInPeerRoom(element);
    expect(await element.deviceSignedByOwner(user.userId, deviceId), 'the mx device must not be cross-signed for this test').toBe(false);
    const eventId = await element.sendText(roomId, 'for cross-signed devices only');

    const lines = parseJsonLines<Line>(await roomMessages(user.configDir, roomId, 'json'));
    const withheld = lines.find((l) => l.event_id === eventId);
    expect(withheld?.type).toBe('m.room.encrypted');
    expect(withheld?.encryption, JSON.stringify(withheld)).toMatchObject({
      decrypted: false,
      reason: 'withheld',
      withheld_code: 'm.unverified',
      message: expect.stringMatching(/^the sender's client shares room keys only with devices verified by their owner \(cross-signed\), and this device is not: run `mx crypto recover`.*`mx crypto setup`/),
      engine_message: expect.stringContaining('m.unverified'),
    });

    const text = await roomMessages(user.configDir, roomId, 'text');
    expect(text).toMatch(/\[unable to decrypt: withheld \(m\.unverified\): the sender's client shares room keys only with devices verified by their owner/);
    expect(text).not.toContain('withheld code: Some');

    // The remedy the words name: cross-signed, the device gets the keys of the messages sent after.
    const setup = await runMx(['crypto', 'setup', '--password-stdin'], { configDir: user.configDir, input: user.password });
    expect(setup.code, describeResult(['crypto', 'setup'], setup)).toBe(0);
    expect(await element.deviceSignedByOwner(user.userId, deviceId)).toBe(true);
    const laterId = await element.sendText(roomId, 'now that you are cross-signed');
    const after = parseJsonLines<Line>(await roomMessages(user.configDir, roomId, 'json'));
    expect(after.find((l) => l.event_id === laterId)).toMatchObject({ type: 'm.room.message', content: { body: 'now that you are cross-signed' }, encryption: { decrypted: true } });
    expect(after.find((l) => l.event_id === eventId)?.encryption?.reason).toBe('withheld');
  });
});
