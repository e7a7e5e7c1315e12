// What the crypto engine asks to send leaves only once the state that made it is durable
// (src/crypto/requests.ts), and what the outbox keeps for a re-run is let go when it should be.
import { mkdtempSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { describe, expect, it } from 'vitest';
import { keepCiphertext, pendingCiphertext, sweepOutbox } from '../../src/crypto/outbox.js';
import { sendRequest, type LockedEngine } from '../../src/crypto/requests.js';
import { DEFAULT_RETRY_POLICY, type MatrixClient } from '../../src/matrix/http.js';
import type { CryptoSession } from '../../src/crypto/session.js';
import { RoomSender } from '../../src/messages/deliver.js';
import { JSON_HEADERS, mockAgent } from './fake-io.js';

const BASE = 'http://hs.test';

/** An engine whose steps (durable, the request reaching the server, the answer told to the machine) are logged in order. */
function loggedEngine() {
  const agent = mockAgent();
  const steps: string[] = [];
  const client: MatrixClient = { baseUrl: BASE, accessToken: 't', dispatcher: agent, sleep: async () => {} };
  const machine = { markRequestAsSent: async () => void steps.push('answer told to the engine') } as unknown as sdk.OlmMachine;
  const engine: LockedEngine = { sdk, machine, client, durable: async () => void steps.push('durable') };
  const answer = (path: string) =>
    agent.get(BASE).intercept({ path: (p) => p.startsWith(path), method: () => true }).reply(() => {
      steps.push(`server got ${path}`);
      return { statusCode: 200, data: {}, responseOptions: JSON_HEADERS };
    });
  return { engine, steps, answer };
}

const request = (type: sdk.RequestType, extra: Record<string, unknown> = {}) => ({ id: 'r1', type, body: '{}', ...extra }) as never;

describe('the engine\'s requests', () => {
  it('a key upload, a to-device message, a signature upload and a key backup go out only after the store is durable', async () => {
    const cases: [sdk.RequestType, string, Record<string, unknown>][] = [
      [sdk.RequestType.KeysUpload, '/_matrix/client/v3/keys/upload', {}],
      [sdk.RequestType.ToDevice, '/_matrix/client/v3/sendToDevice/m.room.encrypted/t1', { event_type: 'm.room.encrypted', txn_id: 't1' }],
      [sdk.RequestType.SignatureUpload, '/_matrix/client/v3/keys/signatures/upload', {}],
      [sdk.RequestType.KeysBackup, '/_matrix/client/v3/room_keys/keys', { version: '1' }],
    ];
    for (const [type, path, extra] of cases) {
      const { engine, steps, answer } = loggedEngine();
      answer(path);
      await sendRequest(engine, request(type, extra));
      expect(steps, path).toEqual(['durable', `server got ${path}`, 'answer told to the engine']);
    }
  });

  it('key queries and claims carry no state of the engine: no save before them', async () => {
    for (const [type, path] of [[sdk.RequestType.KeysQuery, '/_matrix/client/v3/keys/query'], [sdk.RequestType.KeysClaim, '/_matrix/client/v3/keys/claim']] as const) {
      const { engine, steps, answer } = loggedEngine();
      answer(path);
      await sendRequest(engine, request(type));
      expect(steps).toEqual([`server got ${path}`, 'answer told to the engine']);
    }
  });
});

describe('the outbox', () => {
  it('keeps a ciphertext for a re-run, and sweeps one kept longer than a day', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'mx-outbox-'));
    await keepCiphertext(folder, '!a:x', 'old', { ciphertext: 'A' });
    const aDayAndAnHourAgo = (Date.now() - 25 * 60 * 60 * 1000) / 1000;
    for (const name of readdirSync(path.join(folder, 'outbox'))) utimesSync(path.join(folder, 'outbox', name), aDayAndAnHourAgo, aDayAndAnHourAgo);
    await keepCiphertext(folder, '!a:x', 'new', { ciphertext: 'B' });
    expect(pendingCiphertext(folder, '!a:x', 'old')).toEqual({ ciphertext: 'A' });
    sweepOutbox(folder);
    expect(pendingCiphertext(folder, '!a:x', 'old')).toBeUndefined();
    expect(pendingCiphertext(folder, '!a:x', 'new')).toEqual({ ciphertext: 'B' });
  });

  it('a send lets go of its ciphertext once the server answered, also with a refusal; not when no answer came', async () => {
    const room = '!r:hs.test';
    for (const [answer, kept] of [[{ status: 403 }, false], [{ status: 413 }, false], [{ status: 200 }, false], [{ error: true }, true]] as const) {
      const agent = mockAgent();
      const pool = agent.get(BASE);
      const client: MatrixClient = { baseUrl: BASE, accessToken: 't', dispatcher: agent, sleep: async () => {}, retry: { ...DEFAULT_RETRY_POLICY, transientRetries: 0 } };
      pool.intercept({ path: (p) => p.includes('/state/m.room.encryption') }).reply(200, { algorithm: 'm.megolm.v1.aes-sha2' }, JSON_HEADERS);
      pool.intercept({ path: (p) => p.includes('/members') }).reply(200, { chunk: [] }, JSON_HEADERS);
      pool.intercept({ path: (p) => p.includes('/state/m.room.history_visibility') }).reply(404, { errcode: 'M_NOT_FOUND' }, JSON_HEADERS);
      const put = pool.intercept({ path: (p) => p.includes('/send/m.room.encrypted/'), method: 'PUT' });
      if ('error' in answer) put.replyWithError(new Error('connection reset'));
      else put.reply(answer.status, answer.status === 200 ? { event_id: '$e' } : { errcode: 'M_FORBIDDEN', error: 'no' }, JSON_HEADERS);
      const settled: string[] = [];
      const crypto = { encrypt: async () => ({ content: { ciphertext: 'C' }, withheldFrom: [] }), settled: (_room: string, txn: string) => void settled.push(txn) } as unknown as CryptoSession;
      const sender = new RoomSender(client, { roomId: room, eventType: 'm.room.message' }, async () => crypto);
      await sender.send({ msgtype: 'm.text', body: 'hi' }, 'txn-1').catch(() => undefined);
      expect(settled.length > 0, JSON.stringify(answer)).toBe(!kept);
    }
  });
});
