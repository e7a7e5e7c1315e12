/** Sending events (spec: "Sending events to a room", "Content repository" uploads). */
import { encodePath, matrixRequest, type MatrixClient } from './http.js';
import { requireStrings } from './shape.js';

/**
 * PUT /rooms/{roomId}/send/{eventType}/{txnId}. Idempotent by design: the server
 * answers a repeated transaction ID with the first event's ID, so retries never duplicate.
 */
export async function sendMessage(
  client: MatrixClient,
  roomId: string,
  eventType: string,
  txnId: string,
  content: Record<string, unknown>,
): Promise<{ event_id: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'PUT', path: encodePath`/_matrix/client/v3/rooms/${roomId}/send/${eventType}/${txnId}`, body: content,
    auth: true, idempotent: true, what: `send to ${roomId}`,
  });
  return requireStrings(answer, ['event_id'], `send to ${roomId}`);
}

/** PUT /sendToDevice/{eventType}/{txnId}: `messages` by user, then device. Idempotent (the transaction ID). */
export async function sendToDevice(
  client: MatrixClient,
  eventType: string,
  txnId: string,
  messages: Record<string, Record<string, Record<string, unknown>>>,
): Promise<void> {
  await matrixRequest<Record<string, unknown>>(client, {
    method: 'PUT', path: encodePath`/_matrix/client/v3/sendToDevice/${eventType}/${txnId}`, body: { messages },
    auth: true, idempotent: true, what: `send ${eventType} to devices`,
  });
}

/** PUT /rooms/{roomId}/state/{eventType}/{stateKey}. Setting the same state twice is harmless. */
export async function setRoomStateWithKey(
  client: MatrixClient,
  roomId: string,
  eventType: string,
  stateKey: string,
  content: Record<string, unknown>,
): Promise<{ event_id: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'PUT', path: encodePath`/_matrix/client/v3/rooms/${roomId}/state/${eventType}/${stateKey}`, body: content,
    auth: true, idempotent: true, what: `set ${eventType} in ${roomId}`,
  });
  return requireStrings(answer, ['event_id'], `set ${eventType} in ${roomId}`);
}

/** POST /_matrix/media/v3/upload: returns the mxc:// URI. Not idempotent (each upload is new). */
export async function uploadContent(
  client: MatrixClient,
  data: Buffer,
  contentType: string,
  filename?: string,
): Promise<{ content_uri: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: '/_matrix/media/v3/upload', query: { filename }, rawBody: { data, contentType },
    auth: true, idempotent: false, timeoutMs: 120_000, what: 'upload',
  });
  return requireStrings(answer, ['content_uri'], 'upload');
}

/** GET /_matrix/client/v1/media/config: the server's upload size limit, if it says. */
export async function getMediaConfig(client: MatrixClient): Promise<{ 'm.upload.size'?: number }> {
  return matrixRequest(client, {
    method: 'GET', path: '/_matrix/client/v1/media/config', auth: true, idempotent: true, what: 'read media config',
  });
}

/**
 * PUT /rooms/{roomId}/redact/{eventId}/{txnId}: redacts an event (never encrypted: the server
 * must read `redacts`). Idempotent by its transaction ID, like a send.
 */
export async function redactEvent(client: MatrixClient, roomId: string, eventId: string, txnId: string, reason?: string): Promise<{ event_id: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'PUT', path: encodePath`/_matrix/client/v3/rooms/${roomId}/redact/${eventId}/${txnId}`, body: reason === undefined ? {} : { reason },
    auth: true, idempotent: true, what: `redact ${eventId}`,
  });
  return requireStrings(answer, ['event_id'], `redact ${eventId}`);
}
