import v8 from 'node:v8';
import { fakeIndexedDb } from './fake-idb.js';
import type { IdbKey, IdbKeyRange, IdbKeyRangeClass } from './idb-types.js';
import { damaged, readFrames } from './log-format.js';

/**
 * The records of an object store's log: what one committed change did to one object store.
 *
 *   put:          [1][u32 key length][key][value]
 *   delete:       [2][key]
 *   delete range: [3][{ lower, upper, lowerOpen, upperOpen }]
 *   clear:        [4]
 *
 * Keys, ranges and values are in v8.serialize's format (the structured clone that IndexedDB
 * itself uses, so any value IndexedDB accepts round-trips). The key is stored apart from the
 * value so that a log can be scanned for its keys without decoding a single value.
 */

const KeyRange = () => fakeIndexedDb().IDBKeyRange as unknown as IdbKeyRangeClass;

export const OP_PUT = 1;
export const OP_DELETE = 2;
export const OP_DELETE_RANGE = 3;
export const OP_CLEAR = 4;

export type LogRecord =
  | { op: typeof OP_PUT; key: IdbKey; valueBytes: Buffer }
  | { op: typeof OP_DELETE; key: IdbKey }
  | { op: typeof OP_DELETE_RANGE; range: IdbKeyRange }
  | { op: typeof OP_CLEAR };

export function encodePut(key: IdbKey, valueBytes: Buffer): Buffer {
  const k = v8.serialize(key);
  const head = Buffer.allocUnsafe(5);
  head[0] = OP_PUT;
  head.writeUInt32LE(k.length, 1);
  return Buffer.concat([head, k, valueBytes]);
}

export function encodeDelete(key: IdbKey): Buffer {
  return Buffer.concat([Buffer.of(OP_DELETE), v8.serialize(key)]);
}

export function encodeDeleteRange(range: IdbKeyRange): Buffer {
  const plain = { lower: range.lower, upper: range.upper, lowerOpen: range.lowerOpen, upperOpen: range.upperOpen };
  return Buffer.concat([Buffer.of(OP_DELETE_RANGE), v8.serialize(plain)]);
}

export function encodeClear(): Buffer {
  return Buffer.of(OP_CLEAR);
}

/** Decodes a payload; the value stays as bytes (decoded only when the record is loaded). */
export function decodeRecord(payload: Buffer, file: string, offset: number): LogRecord {
  try {
    switch (payload[0]) {
      case OP_PUT: {
        const keyLen = payload.readUInt32LE(1);
        if (5 + keyLen > payload.length) throw new Error('key length out of bounds');
        return { op: OP_PUT, key: v8.deserialize(payload.subarray(5, 5 + keyLen)) as IdbKey, valueBytes: payload.subarray(5 + keyLen) };
      }
      case OP_DELETE:
        return { op: OP_DELETE, key: v8.deserialize(payload.subarray(1)) as IdbKey };
      case OP_DELETE_RANGE:
        return { op: OP_DELETE_RANGE, range: toKeyRange(v8.deserialize(payload.subarray(1)) as PlainRange) };
      case OP_CLEAR:
        if (payload.length !== 1) throw new Error('clear record with data');
        return { op: OP_CLEAR };
      default:
        throw new Error(`unknown record type ${payload[0]}`);
    }
  } catch (err) {
    // The checksum matched, so this was written like that: by a bug, or by a newer mx.
    throw damaged(file, `the record at byte ${offset} cannot be decoded (${(err as Error).message})`);
  }
}

export function decodeValue(valueBytes: Buffer, file: string, offset: number): unknown {
  try {
    return v8.deserialize(valueBytes);
  } catch (err) {
    throw damaged(file, `the value of the record at byte ${offset} cannot be decoded (${(err as Error).message})`);
  }
}

interface PlainRange {
  lower: unknown;
  upper: unknown;
  lowerOpen: boolean;
  upperOpen: boolean;
}

function toKeyRange(r: PlainRange): IdbKeyRange {
  if (r.lower === undefined) return KeyRange().upperBound(r.upper, r.upperOpen);
  if (r.upper === undefined) return KeyRange().lowerBound(r.lower, r.lowerOpen);
  return KeyRange().bound(r.lower, r.upper, r.lowerOpen, r.upperOpen);
}

/**
 * A key as the in-memory store holds it (typed arrays become ArrayBuffers, and so on), via
 * fake-indexeddb's own conversion; undefined if `value` is not a valid key.
 */
export function canonicalKey(value: unknown): IdbKey | undefined {
  try {
    return KeyRange().only(value).lower as IdbKey;
  } catch {
    return undefined;
  }
}

export function isKeyRange(value: unknown): value is IdbKeyRange {
  return value instanceof (fakeIndexedDb().IDBKeyRange as unknown as abstract new (...args: never[]) => unknown);
}

/**
 * A string that is equal for two canonical keys exactly when IndexedDB compares them equal
 * (used as a Map key). Type tags and lengths keep different keys from colliding.
 */
export function keyId(key: IdbKey): string {
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number') return `n${key === 0 ? 0 : key}`; // -0 and 0 are the same key
  if (key instanceof Date) return `d${key.getTime()}`;
  if (key instanceof ArrayBuffer) return `b${Buffer.from(key).toString('hex')}`;
  if (Array.isArray(key)) return `a${key.length}[${key.map((k) => { const id = keyId(k); return `${id.length}:${id}`; }).join('')}]`;
  throw new Error(`Bug: not a canonical IndexedDB key: ${Object.prototype.toString.call(key)}`);
}

/** Where the current value of one key lives in the store's log, and whether it is in memory. */
export interface LiveEntry {
  key: IdbKey;
  /** Offset of the put record's frame in the log; -1 until our own put is flushed. */
  offset: number;
  /** Frame length (header + payload). */
  length: number;
  /** The in-memory store holds this key's current value. */
  inMemory: boolean;
}

/**
 * The keys an object store's log holds now, with the record of each one's current value. It is
 * what lets a process answer `get(key)` by reading one record instead of the whole store, and
 * what compaction copies.
 */
export class LiveMap {
  readonly entries = new Map<string, LiveEntry>();
  /** Sum of the frame lengths of the live records. */
  liveBytes = 0;

  /** Applies one record found at `offset` (frame length `length`). */
  apply(rec: LogRecord, offset: number, length: number, inMemory: boolean): void {
    switch (rec.op) {
      case OP_PUT: {
        const id = keyId(rec.key);
        const old = this.entries.get(id);
        if (old) this.liveBytes -= old.length;
        this.entries.set(id, { key: rec.key, offset, length, inMemory });
        this.liveBytes += length;
        break;
      }
      case OP_DELETE:
        this.remove(keyId(rec.key));
        break;
      case OP_DELETE_RANGE:
        for (const [id, e] of this.entries) if (rec.range.includes(e.key)) this.remove(id);
        break;
      case OP_CLEAR:
        this.entries.clear();
        this.liveBytes = 0;
        break;
    }
  }

  private remove(id: string): void {
    const old = this.entries.get(id);
    if (!old) return;
    this.liveBytes -= old.length;
    this.entries.delete(id);
  }
}

/** Reads the committed records in `buf` (the log's bytes from `base` on), decoded. */
export function* logRecords(buf: Buffer, base: number, file: string): Generator<{ rec: LogRecord; offset: number; length: number }> {
  for (const f of readFrames(buf, base, 'committed', file).records) {
    yield { rec: decodeRecord(f.payload, file, f.offset), offset: f.offset, length: f.length };
  }
}
