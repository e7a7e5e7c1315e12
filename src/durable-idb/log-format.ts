import type * as Zlib from 'node:zlib';
import { LocalStateError } from '../errors.js';
import { nodeZlib } from '../builtins.js';

// node:zlib is loaded at the first checksum, when a crypto store is opened, not at every
// command's start-up (a module that loads a built-in at its top makes every command pay for it).
let zlib: typeof Zlib | undefined;
const crc32 = (data: Uint8Array): number => (zlib ??= nodeZlib()).crc32(data);

/**
 * The byte layout shared by the crypto store's files (the manifest and the object store logs).
 *
 * A file is a 16-byte header followed by records. The header is an 8-byte magic that names the
 * kind of file, a format version and a CRC-32 of those 12 bytes. A record is a 12-byte frame
 * header (payload length, CRC-32 of the payload, CRC-32 of those first 8 bytes) and the payload.
 *
 * The frame header has its own checksum so that a damaged length is caught as such instead of
 * sending the reader off to a wrong position.
 *
 * Torn tail or damage? Only the manifest can have a torn tail that matters (a log's bytes past
 * its committed end are never read). A bad record there is taken for the remains of an append
 * cut short if no intact record follows it; one that does means it had been committed. A
 * committed last record damaged later (a disk fault) cannot be told from a torn one, and is
 * dropped like one: the price of accepting torn appends at all.
 */

export const FILE_HEADER_LEN = 16;
const FRAME_HEADER_LEN = 12;
const FORMAT_VERSION = 1;

/** A record's payload may not exceed this; a larger length in a frame header is damage. */
const MAX_PAYLOAD = 256 * 1024 * 1024;

export type FileKind = 'manifest' | 'log';
const MAGIC: Record<FileKind, string> = { manifest: 'MXIDBMAN', log: 'MXIDBLOG' };

export function fileHeader(kind: FileKind): Buffer {
  const b = Buffer.alloc(FILE_HEADER_LEN);
  b.write(MAGIC[kind], 0, 'latin1');
  b.writeUInt32LE(FORMAT_VERSION, 8);
  b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
  return b;
}

/** Throws a LocalStateError unless `buf` starts with a valid header of this kind. */
export function checkFileHeader(buf: Buffer, kind: FileKind, file: string): void {
  if (buf.length < FILE_HEADER_LEN) throw damaged(file, 'it is shorter than its header');
  if (buf.toString('latin1', 0, 8) !== MAGIC[kind] || buf.readUInt32LE(12) !== crc32(buf.subarray(0, 12))) {
    throw damaged(file, 'its header is not that of an mx crypto store file');
  }
  const version = buf.readUInt32LE(8);
  if (version !== FORMAT_VERSION) {
    throw new LocalStateError(
      `The crypto store file ${file} has format version ${version}, written by another mx; this one reads version ${FORMAT_VERSION}. Use a matching mx.`,
    );
  }
}

/** One framed record, ready to append. */
export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LEN + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.writeUInt32LE(crc32(out.subarray(0, 8)), 8);
  payload.copy(out, FRAME_HEADER_LEN);
  return out;
}

export interface FramedRecord {
  /** Offset of the frame header in the file. */
  offset: number;
  /** Frame header + payload. */
  length: number;
  payload: Buffer;
}

/**
 * Reads the records of `buf`, which holds the file's bytes from `base` on.
 *
 * 'committed': every byte is known to belong to committed records (an object store log up to
 * the end the manifest recorded), so anything wrong is damage.
 * 'tail': the end of an append-only file that a crash may have cut short (the manifest). A
 * torn last record is not an error: reading stops before it and `validEnd` says where. Anything
 * that cannot be the result of one interrupted append is damage.
 */
export function readFrames(
  buf: Buffer,
  base: number,
  mode: 'committed' | 'tail',
  file: string,
): { records: FramedRecord[]; validEnd: number; torn: boolean } {
  const records: FramedRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const problem = frameProblem(buf, pos);
    if (problem) {
      // An append cut short leaves a prefix of what was written, maybe followed by zeros or
      // stale bytes (a power loss), and nothing after it. Damage is anything else: a complete,
      // valid record after the bad one means the bad one was committed once.
      if (mode === 'tail' && !validFrameAfter(buf, pos)) return { records, validEnd: base + pos, torn: true };
      throw damaged(file, `the record ${problem} at byte ${base + pos}`);
    }
    const len = buf.readUInt32LE(pos);
    const end = pos + FRAME_HEADER_LEN + len;
    records.push({ offset: base + pos, length: FRAME_HEADER_LEN + len, payload: buf.subarray(pos + FRAME_HEADER_LEN, end) });
    pos = end;
  }
  return { records, validEnd: base + pos, torn: false };
}

/** What is wrong with the frame at `pos`, or undefined if it is intact. */
function frameProblem(buf: Buffer, pos: number): string | undefined {
  if (buf.length - pos < FRAME_HEADER_LEN) return 'header is cut short';
  const len = buf.readUInt32LE(pos);
  if (buf.readUInt32LE(pos + 8) !== crc32(buf.subarray(pos, pos + 8)) || len > MAX_PAYLOAD) return 'header fails its checksum';
  const end = pos + FRAME_HEADER_LEN + len;
  if (end > buf.length) return 'runs past the end of the data';
  if (crc32(buf.subarray(pos + FRAME_HEADER_LEN, end)) !== buf.readUInt32LE(pos + 4)) return 'fails its checksum';
  return undefined;
}

function validFrameAfter(buf: Buffer, pos: number): boolean {
  for (let p = pos + 1; p + FRAME_HEADER_LEN <= buf.length; p++) if (!frameProblem(buf, p)) return true;
  return false;
}

/** Reads one framed record that must be intact (a record the manifest says is committed). */
export function readOneFrame(buf: Buffer, offset: number, file: string): Buffer {
  const { records } = readFrames(buf, offset, 'committed', file);
  if (records.length !== 1) throw damaged(file, `expected one record at byte ${offset}, found ${records.length}`);
  return records[0]!.payload;
}

/**
 * A store that is damaged (exit 8): never changed or replaced by this engine. Its user says what
 * to do about it (the crypto layer: a new device), which the engine cannot know.
 */
export class StoreDamaged extends LocalStateError {}

export function damaged(file: string, what: string): StoreDamaged {
  return new StoreDamaged(`The crypto store file ${file} is damaged: ${what}. mx will not change it.`);
}
