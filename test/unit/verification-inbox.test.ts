// The verification inbox: to-device verification messages kept in the crypto store's folder
// for the one process that goes through the verification, whatever process received them.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addToInbox, readInbox, REQUEST_LIFETIME_MS, runningFlows, saveFlow, splitVerificationMessages } from '../../src/crypto/verification/inbox.js';
import { expectRefused, PLANTS, tempDir } from './planted-links.js';

function storeFolder(): string {
  const folder = path.join(tempDir(), 'crypto', 'store');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  return folder;
}

const request = (txn: string, sender = '@bob:hs') => ({
  type: 'm.key.verification.request',
  sender,
  content: { transaction_id: txn, from_device: 'BOB', methods: ['m.sas.v1'], timestamp: 1 },
});

describe('verification messages apart from the rest of a sync', () => {
  it('takes the spec\'s verification messages out, leaves every other to-device message for the engine', () => {
    const roomKey = { type: 'm.room.encrypted', sender: '@bob:hs', content: { algorithm: 'm.olm.v1.curve25519-aes-sha2' } };
    const { verification, others } = splitVerificationMessages([roomKey, request('t1'), null, 42]);
    expect(verification).toEqual([request('t1')]);
    expect(others).toEqual([roomKey, null, 42]);
  });

  it('drops a verification message no client would send (no sender, content not an object, huge): never to the engine, never kept', () => {
    const { verification, others } = splitVerificationMessages([
      { type: 'm.key.verification.start', content: {} },
      { type: 'm.key.verification.start', sender: '@bob:hs', content: 'text' },
      { type: 'm.key.verification.key', sender: '@bob:hs', content: { key: 'x'.repeat(20_000) } },
      { type: `m.key.verification.${'x'.repeat(100)}`, sender: '@bob:hs', content: {} },
    ]);
    expect(verification).toEqual([]);
    // The last one is no verification type of the spec's length: the engine sees and ignores it.
    expect(others).toHaveLength(1);
  });
});

describe('the inbox file', () => {
  it('keeps each message once, however many processes received it, private to the user', async () => {
    const folder = storeFolder();
    await addToInbox(folder, 1_000, [{ event: request('t1') }]);
    await addToInbox(folder, 2_000, [{ event: request('t1') }, { event: request('t2') }, { cancel: 't2' }]);
    const entries = readInbox(folder, 3_000);
    expect(entries.map((e) => e.event?.content.transaction_id ?? `cancel ${e.cancel}`)).toEqual(['t1', 't2', 'cancel t2']);
    const file = path.join(folder, 'verification', 'inbox.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('forgets entries after the spec\'s 10 minutes, and holds a bounded number', async () => {
    const folder = storeFolder();
    await addToInbox(folder, 0, [{ event: request('old') }]);
    expect(readInbox(folder, REQUEST_LIFETIME_MS - 1)).toHaveLength(1);
    expect(readInbox(folder, REQUEST_LIFETIME_MS)).toHaveLength(0);
    await addToInbox(folder, 1, Array.from({ length: 300 }, (_, i) => ({ event: request(`t${i}`) })));
    const kept = readInbox(folder, 2);
    expect(kept).toHaveLength(256);
    expect(kept.at(-1)!.event!.content.transaction_id).toBe('t299');
  });

  it('reads a damaged or foreign inbox as empty, and a hostile entry not at all', async () => {
    const folder = storeFolder();
    mkdirSync(path.join(folder, 'verification'), { mode: 0o700 });
    const file = path.join(folder, 'verification', 'inbox.json');
    writeFileSync(file, '{"not": "an inbox"', { mode: 0o600 });
    expect(readInbox(folder, 0)).toEqual([]);
    writeFileSync(file, JSON.stringify([{ id: 'x', at: 0, event: { type: 'm.room.message', sender: '@a:hs', content: {} } }, { id: 'y', at: 0, event: request('ok') }]));
    expect(readInbox(folder, 1).map((e) => e.id)).toEqual(['y']);
    // A new message replaces the damaged file whole.
    writeFileSync(file, 'garbage');
    await addToInbox(folder, 5, [{ event: request('t') }]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveLength(1);
  });

  it.each(PLANTS)('refuses %s in the place of the inbox, and leaves it alone', async (_name, plant) => {
    const folder = storeFolder();
    mkdirSync(path.join(folder, 'verification'), { mode: 0o700 });
    const at = path.join(folder, 'verification', 'inbox.json');
    const planted = plant(at);
    await expectRefused(at, planted, () => addToInbox(folder, 0, [{ event: request('t') }]));
  });
});

describe('flows in flight', () => {
  it('lists the flows of running processes only; an ended process\'s file goes', async () => {
    const folder = storeFolder();
    const flow = { flow_id: 'f1', pid: process.pid, user_id: '@bob:hs', phase: 'ready', we_started: true, started_at: 10 };
    await saveFlow(folder, flow);
    await saveFlow(folder, { ...flow, flow_id: 'gone', pid: 2 ** 22 + 12345 });
    expect(runningFlows(folder, 20)).toEqual([flow]);
    expect(runningFlows(folder, 20 + REQUEST_LIFETIME_MS)).toEqual([]);
  });
});
