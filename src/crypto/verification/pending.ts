/**
 * Verification requests in flight for this device, as `mx verify list` and `mx verify cancel`
 * see them: the flows running mx processes go through (verification/flows/), and the
 * to-device requests in the inbox that no process has taken. (A request made in a room is
 * found by `mx verify accept`, which reads the rooms, and shown by `mx tail`.)
 */
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { sendToDevice } from '../../matrix/events.js';
import { newTxnId } from '../../messages/txn.js';
import type { CryptoSession } from '../session.js';
import { addToInbox, readInbox, REQUEST_LIFETIME_MS, runningFlows } from './inbox.js';

export interface PendingRequest {
  flow_id: string;
  user_id: string;
  device_id?: string;
  room_id?: string;
  /** `waiting` (no process has taken it), else the phase of the process going through it. */
  state: string;
  /** The mx process going through it. */
  pid?: number;
}

const ENDING_TYPES = new Set(['m.key.verification.cancel', 'm.key.verification.done']);

export async function pendingRequests(session: CryptoSession, now: number): Promise<PendingRequest[]> {
  const { folder } = session.ref;
  const running: PendingRequest[] = runningFlows(folder, now).map((f) => ({
    flow_id: f.flow_id, user_id: f.user_id, ...(f.device_id ? { device_id: f.device_id } : {}), ...(f.room_id ? { room_id: f.room_id } : {}), state: f.phase, pid: f.pid,
  }));
  const taken = new Set(running.map((r) => r.flow_id));
  const entries = readInbox(folder, now);
  const ended = new Set(entries.flatMap((e) => (e.cancel ? [e.cancel] : e.event && ENDING_TYPES.has(e.event.type) ? [String(e.event.content.transaction_id)] : [])));
  const waiting: PendingRequest[] = [];
  for (const { event } of entries) {
    if (event?.type !== 'm.key.verification.request') continue;
    const { transaction_id: flowId, from_device: device, timestamp } = event.content;
    if (typeof flowId !== 'string' || taken.has(flowId) || ended.has(flowId) || typeof timestamp !== 'number' || now - timestamp >= REQUEST_LIFETIME_MS) continue;
    waiting.push({ flow_id: flowId, user_id: event.sender, ...(typeof device === 'string' ? { device_id: device } : {}), state: 'waiting' });
  }
  return [...running, ...waiting];
}

/**
 * Cancels one request in flight (`id`, or the only one) with m.user: a running process is asked
 * to (through the inbox: it tells the other side), a waiting request is cancelled to its sender.
 */
export async function cancelPending(session: CryptoSession, id: string | undefined, now: number): Promise<{ flow_id: string; user_id: string; by_process?: number }> {
  const pending = await pendingRequests(session, now);
  const chosen = id === undefined ? pending : pending.filter((p) => p.flow_id === id);
  if (chosen.length === 0) throw new MxError(id === undefined ? 'no verification is in flight' : `no verification ${id} is in flight (mx verify list shows them)`, ExitCode.notFound);
  if (chosen.length > 1) throw new UsageError(`${chosen.length} verifications are in flight: name one (mx verify list shows their IDs)`);
  const request = chosen[0]!;
  if (request.pid === undefined && request.device_id) {
    const content = { transaction_id: request.flow_id, code: 'm.user', reason: 'The user cancelled the verification' };
    await sendToDevice(session.client, 'm.key.verification.cancel', newTxnId(now), { [request.user_id]: { [request.device_id]: content } });
  }
  await session.use(() => addToInbox(session.ref.folder, now, [{ cancel: request.flow_id }]));
  return { flow_id: request.flow_id, user_id: request.user_id, ...(request.pid !== undefined ? { by_process: request.pid } : {}) };
}
