import { crc32 } from 'node:zlib';
import { LocalStateError } from '../errors.js';

/**
 * The byte layout shared by the crypto store's files (the manifest and the object store logs).
 *
 * A file is a 16-byte header followed by records. The header is an 8-byte magic that names the
 * kind of file, a format version and a CRC-32 of those 12 bytes. A record is a 12-byte frame
 * header (payload length, CRC-32 of the payload, CRC-32 of those first 8 bytes) and the payload.
 *
 * The frame header has its own checksum so that a damaged length is told apart from a record
 * cut short by a crash: a bad length would otherwise look like "the file ends mid-record" and
 * be taken for a torn tail, dropping every committed record after it.
 */

export const FILE_HEADER_LEN = 16;
export const FRAME_HEADER_LEN = 12;
export const FORMAT_VERSION = 1;

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
    const at = base + pos;
    const left = buf.length - pos;
    const torn = () => ({ records, validEnd: at, torn: true });
    if (left < FRAME_HEADER_LEN) {
      if (mode === 'tail') return torn();
      throw damaged(file, `a record header is cut short at byte ${at}`);
    }
    const len = buf.readUInt32LE(pos);
    const headerOk = buf.readUInt32LE(pos + 8) === crc32(buf.subarray(pos, pos + 8));
    if (!headerOk || len > MAX_PAYLOAD) {
      // An interrupted append leaves a prefix of what was written, or (after a power loss on
      // some file systems) zeros. A complete header that fails its checksum is neither.
      if (mode === 'tail' && allZero(buf, pos)) return torn();
      throw damaged(file, `the record header at byte ${at} fails its checksum`);
    }
    const end = pos + FRAME_HEADER_LEN + len;
    if (end > buf.length) {
      if (mode === 'tail') return torn();
      throw damaged(file, `the record at byte ${at} runs past the end of the data`);
    }
    const payload = buf.subarray(pos + FRAME_HEADER_LEN, end);
    if (crc32(payload) !== buf.readUInt32LE(pos + 4)) {
      // Only the last record can be a torn one; a bad record with others after it is damage.
      if (mode === 'tail' && end === buf.length) return torn();
      throw damaged(file, `the record at byte ${at} fails its checksum`);
    }
    records.push({ offset: at, length: FRAME_HEADER_LEN + len, payload });
    pos = end;
  }
  return { records, validEnd: base + pos, torn: false };
}

/** Reads one framed record that must be intact (a record the manifest says is committed). */
export function readOneFrame(buf: Buffer, offset: number, file: string): Buffer {
  const { records } = readFrames(buf, offset, 'committed', file);
  if (records.length !== 1) throw damaged(file, `expected one record at byte ${offset}, found ${records.length}`);
  return records[0]!.payload;
}

function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

export function damaged(file: string, what: string): LocalStateError {
  return new LocalStateError(
    `The crypto store file ${file} is damaged: ${what}. mx will not change it. ` +
      `Move the crypto store folder aside to start a new one (this device then loses the room keys it holds).`,
  );
}
