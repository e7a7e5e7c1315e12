import { beforeAll, describe, expect, it } from 'vitest';
import { loadFakeIndexedDb } from '../../src/durable-idb/fake-idb.js';
import { LocalStateError } from '../../src/errors.js';
import { checkFileHeader, FILE_HEADER_LEN, fileHeader, frame, readFrames } from '../../src/durable-idb/log-format.js';
import { canonicalKey, keyId } from '../../src/durable-idb/store-log.js';

const recs = [frame(Buffer.from('first')), frame(Buffer.from('second record')), frame(Buffer.from('third'))];
const all = Buffer.concat(recs);
const payloads = (b: Buffer, mode: 'committed' | 'tail') => readFrames(b, 100, mode, 'f').records.map((r) => r.payload.toString());

describe('record framing', () => {
  it('reads back records with their offsets', () => {
    const { records, validEnd, torn } = readFrames(all, 100, 'committed', 'f');
    expect(records.map((r) => [r.offset, r.payload.toString()])).toEqual([
      [100, 'first'],
      [100 + recs[0]!.length, 'second record'],
      [100 + recs[0]!.length + recs[1]!.length, 'third'],
    ]);
    expect([validEnd, torn]).toEqual([100 + all.length, false]);
  });

  it("takes any prefix of an append, or zeros after it, for a torn tail in 'tail' mode", () => {
    const lastStart = recs[0]!.length + recs[1]!.length;
    for (let cut = lastStart; cut < all.length; cut++) {
      const r = readFrames(all.subarray(0, cut), 0, 'tail', 'f');
      expect([cut, r.records.length, r.validEnd, r.torn]).toEqual([cut, 2, lastStart, cut > lastStart]);
    }
    // A power loss can leave zeros, or stale bytes, where the rest of the append should be.
    for (const filler of [Buffer.alloc(30), Buffer.from('stale bytes of some earlier file')]) {
      const r = readFrames(Buffer.concat([all.subarray(0, lastStart + 4), filler]), 0, 'tail', 'f');
      expect([r.records.length, r.validEnd, r.torn]).toEqual([2, lastStart, true]);
    }
  });

  it('reports damage that an interrupted append cannot cause, in either mode', () => {
    for (const mode of ['committed', 'tail'] as const) {
      const badPayload = Buffer.from(all);
      badPayload[recs[0]!.length + 14]! ^= 1; // inside the second record, not the last
      expect(() => payloads(badPayload, mode)).toThrow(/record fails its checksum at byte \d+/);
      const badLength = Buffer.from(all);
      badLength[recs[0]!.length]! ^= 1; // the second record's length: its header checksum fails
      expect(() => payloads(badLength, mode)).toThrow(/record header fails its checksum at byte \d+/);
    }
    // In committed data, even a cut-short last record is damage.
    expect(() => payloads(all.subarray(0, all.length - 1), 'committed')).toThrow(LocalStateError);
  });

  it('checks file headers (kind and format version)', () => {
    expect(() => checkFileHeader(fileHeader('log'), 'log', 'f')).not.toThrow();
    expect(() => checkFileHeader(fileHeader('manifest'), 'log', 'f')).toThrow(/not that of an mx crypto store file/);
    expect(() => checkFileHeader(fileHeader('log').subarray(0, FILE_HEADER_LEN - 1), 'log', 'f')).toThrow(/shorter than its header/);
  });
});

describe('key identities', () => {
  // The crypto store loads fake-indexeddb on demand (openPersistentIndexedDb does it).
  beforeAll(loadFakeIndexedDb);

  it('are equal exactly for keys IndexedDB treats as equal', () => {
    const id = (k: unknown) => keyId(canonicalKey(k)!);
    expect(id(0)).toBe(id(-0));
    expect(id(new Uint8Array([1, 2]))).toBe(id(new Uint8Array([1, 2]).buffer));
    expect(id(new Date(5))).toBe(id(new Date(5)));
    expect(id(['a', 1])).toBe(id(['a', 1]));
    const distinct = ['1', 1, new Date(1), new Uint8Array([1]), [1], [[1]], ['a', 'b'], ['ab'], '', []];
    expect(new Set(distinct.map(id)).size).toBe(distinct.length);
    expect(canonicalKey({})).toBeUndefined();
  });
});
