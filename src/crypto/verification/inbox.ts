/**
 * Verification messages between processes. The engine keeps a verification in memory only, so
 * one process (an `mx verify`) goes through it, while others of the same profile (a `tail` for
 * days, sends) go on syncing and would consume its to-device messages: the server deletes a
 * to-device message once any sync of the device has moved past it. So no process feeds the
 * `m.key.verification.*` to-device messages it receives to its own engine; each keeps them in
 * the crypto store's folder, `verification/inbox.json`, where the verifying process reads them
 * (and `mx verify accept` finds a request that came before it started). Written inside the lock
 * period that received them, before the sync position that acknowledges them is saved.
 *
 * The inbox also holds a local request to cancel a flow (`mx verify cancel`), which the process
 * going through the flow carries out. Entries go after the spec's 10 minutes a request lives.
 *
 * `verification/flows/` has one file per flow a running process goes through (its pid, who,
 * the phase), for `mx verify list` and `mx verify cancel`, and so that two processes do not take
 * the same request.
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { nodeCrypto } from '../../builtins.js';
import { ensurePrivateDir, ownFolderExists, readOwnFile, replaceFileAtomically } from '../../fs-util.js';
import { isRecord } from '../../matrix/shape.js';

/** A to-device verification message as the server delivered it. */
export interface VerificationToDevice {
  type: string;
  sender: string;
  content: Record<string, unknown>;
}

export interface InboxEntry {
  /** A hash of the message (the same message received by two processes is one entry). */
  id: string;
  /** When it was put here (this machine's clock, ms). */
  at: number;
  event?: VerificationToDevice;
  /** A local request to cancel this flow (`mx verify cancel`). */
  cancel?: string;
}

/** The spec: a request (and so everything of its flow) is void 10 minutes after it was made. */
export const REQUEST_LIFETIME_MS = 10 * 60_000;
const MAX_ENTRIES = 256;
/** A verification message is small; a larger one is a peer's garbage and is not kept. */
const MAX_EVENT_BYTES = 16 * 1024;

const VERIFICATION_PREFIX = 'm.key.verification.';

export function isVerificationType(type: unknown): type is string {
  return typeof type === 'string' && type.startsWith(VERIFICATION_PREFIX) && type.length <= 64;
}

/** The to-device messages that are verification messages, in a form fit to keep; the rest apart. */
export function splitVerificationMessages(events: unknown[]): { verification: VerificationToDevice[]; others: unknown[] } {
  const verification: VerificationToDevice[] = [];
  const others: unknown[] = [];
  for (const event of events) {
    if (isRecord(event) && isVerificationType(event.type)) {
      // A message that is not the spec's shape is no one's: dropped here, never given to the engine.
      if (typeof event.sender === 'string' && event.sender.length <= 255 && isRecord(event.content) && JSON.stringify(event).length <= MAX_EVENT_BYTES) {
        verification.push({ type: event.type, sender: event.sender, content: event.content });
      }
    } else {
      others.push(event);
    }
  }
  return { verification, others };
}

function dir(folder: string): string {
  return path.join(folder, 'verification');
}

function inboxFile(folder: string): string {
  return path.join(dir(folder), 'inbox.json');
}

function hash(text: string): string {
  return nodeCrypto().createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** The inbox's live entries, oldest first. A file that is not an inbox is read as empty. */
export function readInbox(folder: string, now: number): InboxEntry[] {
  const text = readOwnFile(inboxFile(folder), 'the verification inbox')?.toString('utf8');
  if (!text) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  return Array.isArray(parsed) ? parsed.filter((e): e is InboxEntry => isEntry(e) && now - e.at < REQUEST_LIFETIME_MS) : [];
}

function isEntry(value: unknown): value is InboxEntry {
  if (!isRecord(value) || typeof value.id !== 'string' || typeof value.at !== 'number') return false;
  const event = value.event;
  return (isRecord(event) && isVerificationType(event.type) && typeof event.sender === 'string' && isRecord(event.content)) || typeof value.cancel === 'string';
}

/**
 * Adds entries (inside the store's lock period: processes share the file). A message already
 * in the inbox is not added again. Durable when it resolves.
 */
export async function addToInbox(folder: string, now: number, added: { event?: VerificationToDevice; cancel?: string }[]): Promise<void> {
  if (added.length === 0) return;
  const entries = readInbox(folder, now);
  const ids = new Set(entries.map((e) => e.id));
  for (const entry of added) {
    const id = hash(JSON.stringify(entry.event ?? { cancel: entry.cancel, at: now }));
    if (ids.has(id)) continue;
    ids.add(id);
    entries.push({ id, at: now, ...entry });
  }
  ensurePrivateDir(dir(folder));
  await replaceFileAtomically(inboxFile(folder), JSON.stringify(entries.slice(-MAX_ENTRIES)));
}

/** A flow a running process goes through, as `mx verify list` shows it. */
export interface FlowRecord {
  flow_id: string;
  pid: number;
  /** The other side: a user, and their device once known. */
  user_id: string;
  device_id?: string;
  /** Set for a verification in a room (the direct chat). */
  room_id?: string;
  /** The phase in words (requested, ready, started, ...). */
  phase: string;
  we_started: boolean;
  started_at: number;
}

function flowsDir(folder: string): string {
  return path.join(dir(folder), 'flows');
}

function flowFile(folder: string, flowId: string): string {
  return path.join(flowsDir(folder), hash(flowId));
}

export async function saveFlow(folder: string, record: FlowRecord): Promise<void> {
  ensurePrivateDir(dir(folder));
  ensurePrivateDir(flowsDir(folder), dir(folder));
  await replaceFileAtomically(flowFile(folder, record.flow_id), JSON.stringify(record));
}

export function removeFlow(folder: string, flowId: string): void {
  rmSync(flowFile(folder, flowId), { force: true });
}

/** The flows of processes still running (the files of ended ones are removed as they are met). */
export function runningFlows(folder: string, now: number): FlowRecord[] {
  if (!ownFolderExists(flowsDir(folder))) return [];
  const flows: FlowRecord[] = [];
  for (const name of readdirSync(flowsDir(folder))) {
    const file = path.join(flowsDir(folder), name);
    let record: unknown;
    try {
      record = JSON.parse(readOwnFile(file, 'a verification flow file')?.toString('utf8') ?? 'null');
    } catch {
      record = undefined;
    }
    if (isRecord(record) && typeof record.flow_id === 'string' && typeof record.pid === 'number' && typeof record.started_at === 'number' &&
        now - record.started_at < REQUEST_LIFETIME_MS && processRuns(record.pid)) {
      flows.push(record as unknown as FlowRecord);
    } else {
      rmSync(file, { force: true });
    }
  }
  return flows;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
