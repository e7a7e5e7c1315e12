// Media downloads in-process: the authenticated endpoint, the fallback to the old one only for
// servers without it, the server's file name made safe, and mxc:// URIs checked.
import { describe, expect, it } from 'vitest';
import { downloadMedia, parseMxcUri, safeFileName } from '../../src/messages/media.js';
import type { MatrixClient } from '../../src/matrix/http.js';
import { mockAgent, type TestMockAgent } from './fake-io.js';

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

  it('take only mxc://SERVER/MEDIA_ID', () => {
    expect(parseMxcUri('mxc://example.org:8448/AbC_-9')).toEqual({ serverName: 'example.org:8448', mediaId: 'AbC_-9' });
    for (const bad of ['mxc://example.org/a/b', 'mxc://example.org/..', 'mxc://example.org/a.b', 'mxc:///x', 'http://example.org/x', 'mxc://ex ample.org/x']) {
      expect(() => parseMxcUri(bad), bad).toThrow(/invalid mxc/);
    }
  });
});
