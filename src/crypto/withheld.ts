/**
 * Which devices have not got the room key of the Megolm session a room's messages go out with.
 * A share's to-device messages say it (an m.room_key.withheld with a code for each device left
 * out, beside the room keys), but only once: a second message in the same session shares
 * nothing, and the engine tells a device m.no_olm (no one-time key to make an Olm channel with)
 * once, whatever the room. So mx keeps, in the crypto store's folder under `withheld/`:
 *
 * - one file per room (named by a hash of its ID): the session, and the devices withheld from
 *   it, updated at each share; a device that got the key later drops out;
 * - `no-olm`: the devices told m.no_olm that have got no room key since, in any room.
 *
 * Written only when they change (a room where every device gets the key has no file), replaced
 * atomically, and only within the store's lock period of the share, so that processes sharing
 * the store do not undo each other's updates. Bounded: so many devices per file, so many room
 * files (the oldest go). A file that cannot be read as one of these is unknown (a debug line):
 * the report then holds what the shares since said.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { nodeCrypto } from '../builtins.js';
import { ensurePrivateDir, ownFolderExists, readOwnFile, replaceFileAtomically } from '../fs-util.js';
import { isRecord } from '../matrix/shape.js';

/** A device left without a room key, and the spec's withheld code saying why (m.unverified, m.no_olm, ...). */
export interface WithheldDevice {
  user_id: string;
  device_id: string;
  code: string;
}

/** What one share of a room key did: the devices that got the key, and those withheld from. */
export interface ShareOutcome {
  keyed: { user_id: string; device_id: string }[];
  withheld: WithheldDevice[];
}

export const NO_OLM = 'm.no_olm';

/** Devices listed per file at most: a room of thousands of devices left out keeps the first ones. */
const MAX_DEVICES = 2000;
/** Room files kept at most (those written longest ago go first). */
const MAX_ROOMS = 500;
const NO_OLM_FILE = 'no-olm';

interface RoomRecord {
  room_id: string;
  session_id: string;
  withheld: WithheldDevice[];
}

type Debug = ((line: string) => void) | undefined;

function withheldDir(folder: string): string {
  return path.join(folder, 'withheld');
}

function roomFile(folder: string, roomId: string): string {
  const { createHash } = nodeCrypto();
  return path.join(withheldDir(folder), createHash('sha256').update(roomId).digest('hex').slice(0, 40));
}

/**
 * What the to-device requests of one share say: room keys (m.room.encrypted, Olm-encrypted for
 * each device) and withheld notices (m.room_key.withheld, with the code in clear).
 */
export function shareOutcome(requests: { event_type: string; body: string }[]): ShareOutcome {
  const outcome: ShareOutcome = { keyed: [], withheld: [] };
  for (const request of requests) {
    const { messages } = JSON.parse(request.body) as { messages?: Record<string, Record<string, { code?: unknown }>> };
    for (const [user_id, devices] of Object.entries(messages ?? {})) {
      for (const [device_id, content] of Object.entries(devices)) {
        if (request.event_type === 'm.room.encrypted') outcome.keyed.push({ user_id, device_id });
        else if (request.event_type === 'm.room_key.withheld') outcome.withheld.push({ user_id, device_id, code: String(content.code) });
      }
    }
  }
  return outcome;
}

const deviceKey = (d: { user_id: string; device_id: string }) => `${d.user_id}\n${d.device_id}`;

function isDevice(value: unknown): value is WithheldDevice {
  return isRecord(value) && typeof value.user_id === 'string' && typeof value.device_id === 'string' && typeof value.code === 'string';
}

/** A file's JSON, or undefined when there is none or it is not JSON (said on the debug line). */
function readJson(file: string, debug: Debug): unknown {
  const text = readOwnFile(file)?.toString('utf8');
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    debug?.(`crypto: ${file} is damaged; which devices were left without room keys is unknown`);
    return undefined;
  }
}

function readRoom(folder: string, roomId: string, debug: Debug): RoomRecord | undefined {
  const file = roomFile(folder, roomId);
  const value = readJson(file, debug);
  if (value === undefined) return undefined;
  if (isRecord(value) && value.room_id === roomId && typeof value.session_id === 'string' && Array.isArray(value.withheld) && value.withheld.every(isDevice)) {
    return value as unknown as RoomRecord;
  }
  debug?.(`crypto: ${file} is not a record of withheld room keys of ${roomId}; ignored`);
  return undefined;
}

function readNoOlm(folder: string, debug: Debug): WithheldDevice[] {
  const file = path.join(withheldDir(folder), NO_OLM_FILE);
  const value = readJson(file, debug);
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every(isDevice)) return value;
  debug?.(`crypto: ${file} is not a list of devices; ignored`);
  return [];
}

/** Both lists, one entry per device: the room's own reason first. */
function union(room: WithheldDevice[], noOlm: WithheldDevice[]): WithheldDevice[] {
  const listed = new Set(room.map(deviceKey));
  return [...room, ...noOlm.filter((d) => !listed.has(deviceKey(d)))];
}

/**
 * Records what a share in `roomId` did for the session `sessionId` (that of the message just
 * encrypted), and returns the devices that have not got that session's key: those withheld from
 * it, and those told m.no_olm that have had no key since. Call it within the share's lock period.
 */
export async function recordShare(folder: string, roomId: string, sessionId: string, outcome: ShareOutcome, debug: Debug): Promise<WithheldDevice[]> {
  const keyed = new Set(outcome.keyed.map(deviceKey));
  const shared = (d: WithheldDevice) => keyed.has(deviceKey(d));
  const newest = <T>(list: T[]) => list.slice(-MAX_DEVICES);

  const before = readRoom(folder, roomId, debug);
  const earlier = before?.session_id === sessionId ? before.withheld : [];
  const withheldNow = new Set(outcome.withheld.map(deviceKey));
  const withheld = newest([...earlier.filter((d) => !shared(d) && !withheldNow.has(deviceKey(d))), ...outcome.withheld]);
  if (withheld.length > 0) {
    if (before?.session_id !== sessionId || !sameDevices(before.withheld, withheld)) await writeRoom(folder, { room_id: roomId, session_id: sessionId, withheld });
  } else if (before) {
    rmSync(roomFile(folder, roomId), { force: true });
  }

  // A device stays on this list until it gets a key (the engine tells it m.no_olm only once).
  const noOlmBefore = readNoOlm(folder, debug);
  const told = outcome.withheld.filter((d) => d.code === NO_OLM);
  const toldNow = new Set(told.map(deviceKey));
  const noOlm = newest([...noOlmBefore.filter((d) => !shared(d) && !toldNow.has(deviceKey(d))), ...told]);
  if (!sameDevices(noOlmBefore, noOlm)) await writeList(folder, noOlm);
  return union(withheld, noOlm);
}

/** What recordShare said last for the session `sessionId` of `roomId`, without a share (a re-run's ciphertext). */
export function recordedWithheld(folder: string, roomId: string, sessionId: string, debug: Debug): WithheldDevice[] {
  const record = readRoom(folder, roomId, debug);
  return union(record?.session_id === sessionId ? record.withheld : [], readNoOlm(folder, debug));
}

function sameDevices(a: WithheldDevice[], b: WithheldDevice[]): boolean {
  return a.length === b.length && a.every((d, i) => deviceKey(d) === deviceKey(b[i]!) && d.code === b[i]!.code);
}

async function writeRoom(folder: string, record: RoomRecord): Promise<void> {
  await writeOwn(roomFile(folder, record.room_id), record);
  pruneRooms(withheldDir(folder));
}

async function writeList(folder: string, devices: WithheldDevice[]): Promise<void> {
  await writeOwn(path.join(withheldDir(folder), NO_OLM_FILE), devices);
}

async function writeOwn(file: string, value: unknown): Promise<void> {
  ensurePrivateDir(path.dirname(file));
  await replaceFileAtomically(file, JSON.stringify(value));
}

/** Keeps the MAX_ROOMS room files written last. */
function pruneRooms(dir: string): void {
  if (!ownFolderExists(dir)) return;
  const names = readdirSync(dir).filter((name) => /^[0-9a-f]{40}$/.test(name));
  if (names.length <= MAX_ROOMS) return;
  const written = names.map((name) => {
    try {
      return { name, at: lstatSync(path.join(dir, name)).mtimeMs };
    } catch {
      return { name, at: -Infinity }; // gone meanwhile
    }
  });
  written.sort((a, b) => a.at - b.at);
  for (const { name } of written.slice(0, written.length - MAX_ROOMS)) rmSync(path.join(dir, name), { force: true });
}
