/**
 * The HTTP side of the crypto engine: each request the OlmMachine asks for (its outgoing
 * requests, and the to-device messages of a room key share) is one Matrix API call, and the
 * server's answer goes back to the machine, which only then counts the request as done.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { encodePath, matrixRequest, type MatrixClient, type RequestSpec } from '../matrix/http.js';

const V3 = '/_matrix/client/v3';

type Outgoing = Sdk.KeysUploadRequest | Sdk.KeysQueryRequest | Sdk.KeysClaimRequest | Sdk.ToDeviceRequest
  | Sdk.SignatureUploadRequest | Sdk.RoomMessageRequest | Sdk.KeysBackupRequest;

/** The engine inside one lock period of its store (session.ts), and where its requests go. */
export interface LockedEngine {
  sdk: typeof Sdk;
  machine: Sdk.OlmMachine;
  client: MatrixClient;
  /** Makes what this lock period changed in the store durable now (see sendRequest). */
  durable(): Promise<void>;
}

/** The API call for one request of the engine (its body is JSON text already). */
function requestSpec(sdk: typeof Sdk, request: Outgoing): RequestSpec {
  const json = (body: string) => ({ data: Buffer.from(body, 'utf8'), contentType: 'application/json' });
  switch (request.type) {
    case sdk.RequestType.KeysUpload:
      // Uploading the same keys again is harmless: safe to retry.
      return { method: 'POST', path: `${V3}/keys/upload`, rawBody: json(request.body), auth: true, idempotent: true, what: 'upload device keys' };
    case sdk.RequestType.KeysQuery:
      return { method: 'POST', path: `${V3}/keys/query`, rawBody: json(request.body), auth: true, idempotent: true, what: 'query device keys' };
    case sdk.RequestType.KeysClaim:
      // Each claim uses up one-time keys: not repeated blindly (the engine asks again if it must).
      return { method: 'POST', path: `${V3}/keys/claim`, rawBody: json(request.body), auth: true, idempotent: false, what: 'claim one-time keys' };
    case sdk.RequestType.ToDevice: {
      const { event_type: type, txn_id: txn } = request as Sdk.ToDeviceRequest;
      return { method: 'PUT', path: V3 + encodePath`/sendToDevice/${type}/${txn}`, rawBody: json(request.body), auth: true, idempotent: true, what: `send ${type} to devices` };
    }
    case sdk.RequestType.SignatureUpload:
      return { method: 'POST', path: `${V3}/keys/signatures/upload`, rawBody: json(request.body), auth: true, idempotent: true, what: 'upload signatures' };
    case sdk.RequestType.RoomMessage: {
      const { room_id: room, event_type: type, txn_id: txn } = request as Sdk.RoomMessageRequest;
      return { method: 'PUT', path: V3 + encodePath`/rooms/${room}/send/${type}/${txn}`, rawBody: json(request.body), auth: true, idempotent: true, what: `send ${type} to ${room}` };
    }
    case sdk.RequestType.KeysBackup: {
      const { version } = request as Sdk.KeysBackupRequest;
      return { method: 'PUT', path: `${V3}/room_keys/keys`, query: { version }, rawBody: json(request.body), auth: true, idempotent: true, what: 'back up room keys' };
    }
    default:
      throw new Error(`the crypto engine asked for a request of unknown type ${String((request as { type: unknown }).type)}`);
  }
}

/**
 * Sends one request and tells the machine it was answered. What a request carries was made
 * from the engine's state (keys it generated, an Olm session it advanced, a signature), so that
 * state is made durable first: a crash after the request then never leaves the server holding
 * what the store lost (device keys of an account the store never saved, after which every
 * upload conflicts; an Olm message whose ratchet step the next one would repeat). Key queries
 * and claims carry nothing of it.
 */
export async function sendRequest(engine: LockedEngine, request: Outgoing): Promise<void> {
  const { sdk, machine, client } = engine;
  if (request.type !== sdk.RequestType.KeysQuery && request.type !== sdk.RequestType.KeysClaim) await engine.durable();
  const answer = await matrixRequest<unknown>(client, requestSpec(sdk, request));
  // (Only a signature upload made outside outgoingRequests() has no ID: nothing to tell then.)
  if (request.id !== undefined) await machine.markRequestAsSent(request.id, request.type, JSON.stringify(answer));
}

/** Sends everything the machine asks for, until it asks for nothing more. */
export async function processOutgoingRequests(engine: LockedEngine): Promise<void> {
  // A machine keeps asking for what is still unanswered; a bounded number of rounds keeps a
  // request the server answers oddly from looping for ever.
  for (let round = 0; round < 10; round++) {
    const requests = (await engine.machine.outgoingRequests()) as Outgoing[];
    if (requests.length === 0) return;
    for (const request of requests) await sendRequest(engine, request);
  }
}

/** Tracks `users` and asks the server for their devices and identities now (not only when they are stale). */
export async function queryKeysNow(engine: LockedEngine, users: string[]): Promise<void> {
  const { sdk, machine } = engine;
  await machine.updateTrackedUsers(users.map((id) => new sdk.UserId(id)));
  await sendRequest(engine, machine.queryKeysForUsers(users.map((id) => new sdk.UserId(id))));
}
