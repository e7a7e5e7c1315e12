// Media downloads in-process: the authenticated endpoint, the fallback to the old one only for
// servers without it, the server's file name made safe, and mxc:// URIs checked.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { downloadMedia, parseMxcUri, safeFileName } from '../../src/messages/media.js';
import type { MatrixClient } from '../../src/matrix/http.js';
import { fakeIo, mockAgent, tempDirMaker, type TestMockAgent } from './fake-io.js';

const tempDir = tempDirMaker('mx-media-');

const HS = 'https://hs.test';

function client(agent: TestMockAgent): MatrixClient {
  return { baseUrl: HS, accessToken: 'token', dispatcher: agent, sleep: async () => {}, retry: { rateLimitRetries: 0, maxRateLimitWaitMs: 0, transientRetries: 0, backoffMs: 1 } };
}

describe('media downloads', () => {
  it('use the authenticated endpoint, with the token, and give the server\'s file name made safe', async () => {
    const agent = mockAgent();
    agent.get(HS).intercept({ path: '/_matrix/client/v1/media/download/hs.test/abc', method: 'GET', headers: { authorization: 'Bearer token' } })
      .reply(200, Buffer.from('bytes'), { headers: { 'content-type': 'image/png', 'content-disposition': "inline; filename*=UTF-8''..%2F..%2Fcat%20pic.png" } });
    const got = await downloadMedia(client(agent), parseMxcUri('mxc://hs.test/abc'));
    expect(got).toEqual({ bytes: Buffer.from('bytes'), contentType: 'image/png', fileName: 'cat pic.png' });
    expect(agent.requests.map((r) => r.path)).toEqual(['/_matrix/client/v1/media/download/hs.test/abc']);
  });

  it('fall back to the unauthenticated endpoint only when the server does not know the new one', async () => {
    const agent = mockAgent();
    const pool = agent.get(HS);
    pool.intercept({ path: '/_matrix/client/v1/media/download/hs.test/abc', method: 'GET' }).reply(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }, { headers: { 'content-type': 'application/json' } });
    pool.intercept({ path: '/_matrix/media/v3/download/hs.test/abc', method: 'GET' }).reply(200, Buffer.from('old'), { headers: { 'content-type': 'text/plain', 'content-disposition': 'attachment; filename="notes.txt"' } });
    const got = await downloadMedia(client(agent), parseMxcUri('mxc://hs.test/abc'));
    expect(got.bytes.toString()).toBe('old');
    expect(got.fileName).toBe('notes.txt');

    // Media the new endpoint does not have is not looked for in the old one.
    const missing = mockAgent();
    missing.get(HS).intercept({ path: '/_matrix/client/v1/media/download/hs.test/gone', method: 'GET' }).reply(404, { errcode: 'M_NOT_FOUND', error: 'Not found' }, { headers: { 'content-type': 'application/json' } });
    await expect(downloadMedia(client(missing), parseMxcUri('mxc://hs.test/gone'))).rejects.toMatchObject({ exitCode: 5 });
    expect(missing.requests).toHaveLength(1);
  });

  it('make file names plain: no folders, no dot names, no control characters', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('..\\..\\boot.ini')).toBe('boot.ini');
    expect(safeFileName('a\u0000b\nc.txt')).toBe('abc.txt');
    for (const bad of ['..', '.', '...', '/', '', '  ', 'dir/']) expect(safeFileName(bad)).toBeUndefined();
  });

  it('never name a hidden file, nor keep bidi, C1 or other control characters, nor grow past what a file system takes', () => {
    const cases: [string, string | undefined][] = [
      ['.bashrc', 'bashrc'],
      ['.ssh', 'ssh'],
      ['.ssh/authorized_keys', 'authorized_keys'],
      ['../.profile', 'profile'],
      ['. .hidden', 'hidden'],
      ['...', undefined],
      ['..', undefined],
      ['. . .', undefined],
      ['\u202e', undefined],
      ['\x1b]0;T\x07', ']0;T'],
      ['a\u202Eexe.txt', 'aexe.txt'],
      ['photo\u2066\u2069\u200e\u200f\u061c.jpg', 'photo.jpg'],
      ['c1\x85\x9bname.txt', 'c1name.txt'],
      ['report.pdf', 'report.pdf'],
      ['résumé 2026 (final).pdf', 'résumé 2026 (final).pdf'],
      ['x'.repeat(300) + '.txt', 'x'.repeat(196) + '.txt'],
      ['é'.repeat(300), 'é'.repeat(100)],
    ];
    for (const [name, safe] of cases) expect(safeFileName(name), JSON.stringify(name)).toBe(safe);
    for (const name of ['🙂'.repeat(100) + '.tar.gz', 'a'.repeat(10_000), '.'.repeat(300) + 'b'.repeat(300)]) {
      const safe = safeFileName(name)!;
      expect(Buffer.byteLength(safe)).toBeLessThanOrEqual(200);
      expect(safe.startsWith('.')).toBe(false);
      expect(safe).not.toMatch(/\uFFFD/);
    }
  });

  it('mx download writes the server\'s hidden or hostile name as a plain file, or one named after the media ID', async () => {
    const cases: [string, string][] = [
      ["attachment; filename=\".bashrc\"", 'bashrc'],
      ["attachment; filename*=UTF-8''.ssh%2Fauthorized_keys", 'authorized_keys'],
      ["attachment; filename*=UTF-8''a%E2%80%AEtxt.exe", 'atxt.exe'],
      ['attachment; filename="..."', 'abc'],
      ["attachment; filename*=UTF-8''%E2%80%AE%E2%80%AE", 'abc'],
    ];
    for (const [disposition, expected] of cases) {
      const cwd = tempDir();
      const io = fakeIo({ cwd, env: { MX_CONFIG_DIR: tempDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: HS } });
      (io.dispatcher as TestMockAgent).get(HS).intercept({ path: '/_matrix/client/v1/media/download/hs.test/abc', method: 'GET' })
        .reply(200, Buffer.from('#!/bin/sh'), { headers: { 'content-type': 'text/plain', 'content-disposition': disposition } });
      expect(await main(['download', 'mxc://hs.test/abc'], io), io.err()).toBe(0);
      expect(readdirSync(cwd), disposition).toEqual([expected]);
      expect(JSON.parse(io.out()).path).toBe(path.join(cwd, expected));
    }
  });

  it('take only mxc://SERVER/MEDIA_ID', () => {
    expect(parseMxcUri('mxc://example.org:8448/AbC_-9')).toEqual({ serverName: 'example.org:8448', mediaId: 'AbC_-9' });
    for (const bad of ['mxc://example.org/a/b', 'mxc://example.org/..', 'mxc://example.org/a.b', 'mxc:///x', 'http://example.org/x', 'mxc://ex ample.org/x']) {
      expect(() => parseMxcUri(bad), bad).toThrow(/invalid mxc/);
    }
  });
});
