import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  checkContentSize, htmlToPlain, jsonContent, loadMarkdown, locationContent, msgtypeForMime, parseMsgtype, textContent,
} from '../../src/messages/content.js';
import { fileContent, readLocalFile } from '../../src/messages/file.js';
import { lineTxnId, newTxnId, parseTxnId } from '../../src/messages/txn.js';
import { UsageError } from '../../src/errors.js';
import { tempDirMaker } from './fake-io.js';

const tempDir = tempDirMaker('mx-send-');

/** A valid PNG of w x h black pixels (a real file: IHDR, IDAT, IEND with CRCs). */
function png(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed) >>> 0);
    return Buffer.concat([length, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const pixels = Buffer.alloc((w * 3 + 1) * h);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('send content', () => {
  it('builds text, notice, emote and custom msgtypes', async () => {
    expect(await textContent('hi', { msgtype: 'm.text' })).toEqual({ msgtype: 'm.text', body: 'hi' });
    expect(await textContent('hi', { msgtype: 'm.notice' })).toEqual({ msgtype: 'm.notice', body: 'hi' });
    expect(await textContent('waves', { msgtype: 'm.emote' })).toEqual({ msgtype: 'm.emote', body: 'waves' });
    expect(await textContent('x', { msgtype: parseMsgtype('com.example.x') })).toEqual({ msgtype: 'com.example.x', body: 'x' });
    expect(() => parseMsgtype('has space')).toThrow(UsageError);
  });

  it('refuses empty and blank text', async () => {
    await expect(textContent('', { msgtype: 'm.text' })).rejects.toThrow(/empty message/);
    await expect(textContent(' \n\t', { msgtype: 'm.text' })).rejects.toThrow(/empty message/);
    await expect(textContent(undefined, { msgtype: 'm.text' })).rejects.toThrow(UsageError);
  });

  it('sends --html as formatted_body, with TEXT as the body or the HTML as plain text', async () => {
    const html = '<p>Hello <b>world</b> &amp; co</p><p>line<br/>two</p><script>x()</script>';
    expect(await textContent(undefined, { msgtype: 'm.text', html })).toEqual({
      msgtype: 'm.text', body: 'Hello world & co\nline\ntwo', format: 'org.matrix.custom.html', formatted_body: html,
    });
    expect(await textContent('plain', { msgtype: 'm.notice', html: '<i>fancy</i>' })).toEqual({
      msgtype: 'm.notice', body: 'plain', format: 'org.matrix.custom.html', formatted_body: '<i>fancy</i>',
    });
    await expect(textContent(undefined, { msgtype: 'm.text', html: '<br>' })).rejects.toThrow(/no text/);
    await expect(textContent(undefined, { msgtype: 'm.text', html: '' })).rejects.toThrow(/empty --html/);
    expect(await htmlToPlain('a&lt;b &#x1F600; &nbsp;<ul><li>one</li><li>two</li></ul>')).toBe('a<b \u{1F600} \u00a0one\ntwo');
  });

  it('renders --markdown into formatted_body and keeps the text as body', async () => {
    const markdown = await loadMarkdown();
    expect(await textContent('**bold** and `code`', { msgtype: 'm.text', markdown })).toEqual({
      msgtype: 'm.text', body: '**bold** and `code`', format: 'org.matrix.custom.html',
      formatted_body: '<p><strong>bold</strong> and <code>code</code></p>',
    });
    // Markdown that is only text adds no formatted body (as Element does).
    expect(await textContent('just text, & "quotes"\nnext line', { msgtype: 'm.text', markdown })).toEqual({
      msgtype: 'm.text', body: 'just text, & "quotes"\nnext line',
    });
  });

  it('takes --json only as an object', () => {
    expect(jsonContent({ msgtype: 'm.text', body: 'x', extra: [1] }, '--json')).toEqual({ msgtype: 'm.text', body: 'x', extra: [1] });
    expect(() => jsonContent([1], '--json')).toThrow('--json must be a JSON object (event content), not an array');
    expect(() => jsonContent(null, '--json')).toThrow(/not null/);
    expect(() => jsonContent('s', '--json')).toThrow(/not a string/);
  });

  it('builds m.location from a checked geo URI', () => {
    expect(locationContent('geo:51.5008,0.1247;u=35', undefined)).toEqual({
      msgtype: 'm.location', body: 'Location geo:51.5008,0.1247;u=35', geo_uri: 'geo:51.5008,0.1247;u=35',
    });
    expect(locationContent('geo:-33.9,151.2,40;crs=wgs84', 'Sydney')).toMatchObject({ body: 'Sydney', geo_uri: 'geo:-33.9,151.2,40;crs=wgs84' });
    for (const bad of ['51.5,0.1', 'geo:91,0', 'geo:0,181', 'geo:1,2;u=abc', 'geo:a,b', 'geo:1,2;crs=moon', 'geo:1']) {
      expect(() => locationContent(bad, undefined), bad).toThrow(/invalid --location/);
    }
  });

  it('chooses the msgtype of a file by MIME type', () => {
    expect(msgtypeForMime('image/png')).toBe('m.image');
    expect(msgtypeForMime('audio/ogg')).toBe('m.audio');
    expect(msgtypeForMime('video/mp4')).toBe('m.video');
    expect(msgtypeForMime('application/pdf')).toBe('m.file');
  });

  it('refuses content over 65,536 bytes before sending', () => {
    expect(() => checkContentSize({ msgtype: 'm.text', body: 'x'.repeat(65_000) })).not.toThrow();
    expect(() => checkContentSize({ msgtype: 'm.text', body: 'x'.repeat(65_537) })).toThrow(/too large: its content is 65567 bytes/);
    // Bytes, not characters.
    expect(() => checkContentSize({ body: '\u00e9'.repeat(33_000) })).toThrow(UsageError);
  });

  it('reads a file with its MIME type, size and (for images) dimensions', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'pic.png'), png(3, 2));
    writeFileSync(path.join(dir, 'notes.txt'), 'hello\n');
    writeFileSync(path.join(dir, 'blob'), 'x');
    writeFileSync(path.join(dir, 'broken.png'), 'not a png');
    const image = await readLocalFile(dir, 'pic.png');
    expect(image.info).toEqual({ mimetype: 'image/png', size: image.data.length, w: 3, h: 2 });
    expect(fileContent(image, { url: 'mxc://hs/abc' }, undefined, undefined)).toEqual({
      msgtype: 'm.image', body: 'pic.png', url: 'mxc://hs/abc', info: image.info,
    });
    const text = await readLocalFile(dir, path.join(dir, 'notes.txt'));
    expect(text.info).toEqual({ mimetype: 'text/plain', size: 6 });
    // A caption is the body; the file name moves to `filename` (spec v1.10).
    expect(fileContent(text, { url: 'mxc://hs/t' }, undefined, 'this week')).toEqual({
      msgtype: 'm.file', body: 'this week', filename: 'notes.txt', url: 'mxc://hs/t', info: text.info,
    });
    expect(fileContent(text, { url: 'mxc://hs/t' }, 'm.image', undefined).msgtype).toBe('m.image');
    expect((await readLocalFile(dir, 'blob')).mimetype).toBe('application/octet-stream');
    expect((await readLocalFile(dir, 'broken.png')).info).toEqual({ mimetype: 'image/png', size: 9 });
    await expect(readLocalFile(dir, 'missing.bin')).rejects.toThrow(/cannot read --file .*missing.bin: no such file/);
    await expect(readLocalFile(dir, '.')).rejects.toThrow(/it is a directory/);
  });
});

describe('transaction IDs', () => {
  it('checks --txn-id and derives per-line IDs', () => {
    expect(parseTxnId('nightly-2024.06_01~a')).toBe('nightly-2024.06_01~a');
    for (const bad of ['', 'a b', 'a/b', 'é', 'x'.repeat(101), 'a%20']) expect(() => parseTxnId(bad), bad).toThrow(/invalid --txn-id/);
    expect(lineTxnId('X', 3)).toBe('X-3');
  });

  it('makes fresh IDs that are unique and URL-safe', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newTxnId(1_700_000_000_000)));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(parseTxnId(id)).toBe(id);
  });
});
