// Downloading media: mx download (an mxc:// URI, or an event's attachment, decrypted and its hash
// checked) and mx tail --download, with the bytes compared; files the peer (matrix-js-sdk with
// Element's attachment library) encrypted; names from the server that try to leave the folder.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptAndUpload, startPeer, type Peer } from '../peer/index.js';
import { mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, homeserverUrl, mxJson, parseJsonLines, profileCredentials, registerUser, runMx, expectExit } from './helpers.js';

/** Uploads bytes with a file name of the caller's choosing, as any client could. */
async function upload(configDir: string, profile: string, bytes: Buffer, fileName: string): Promise<string> {
  const { homeserver, accessToken } = await profileCredentials(configDir, profile);
  const res = await fetch(`${homeserver}/_matrix/media/v3/upload?filename=${encodeURIComponent(fileName)}`, {
    method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/octet-stream' }, body: bytes,
  });
  return ((await res.json()) as { content_uri: string }).content_uri;
}

describe('mx download', () => {
  it('saves an mxc:// URI under the server\'s file name, made safe (never outside the folder), or to --out FILE, DIR/ or -', async () => {
    const user = await registerUser();
    const bytes = randomBytes(200_000);
    const uri = await upload(user.configDir, user.profile, bytes, '../../escape attempt.bin');
    const folder = path.join(user.configDir, 'downloads');
    mkdirSync(folder);
    const saved = await mxJson<{ path: string; size: number }>(['download', uri], { configDir: user.configDir, cwd: folder });
    expect(saved.path).toBe(path.join(folder, 'escape attempt.bin'));
    expect(readFileSync(saved.path)).toEqual(bytes);
    expect(statSync(saved.path).mode & 0o777).toBe(0o600);
    expect(readdirSync(user.configDir).filter((n) => n.includes('escape'))).toEqual([]);
    // Not over an existing file, unless --force.
    expectExit(await runMx(['download', uri], { configDir: user.configDir, cwd: folder }), 6, /exists already/);
    expect((await runMx(['download', uri, '--force'], { configDir: user.configDir, cwd: folder })).code).toBe(0);
    const named = await mxJson<{ path: string }>(['download', uri, '--out', path.join(folder, 'named.bin')], { configDir: user.configDir });
    expect(readFileSync(named.path)).toEqual(bytes);
    // A folder that does not exist is not made.
    expectExit(await runMx(['download', uri, '--out', `${path.join(folder, 'sub')}/`], { configDir: user.configDir }), 2, /cannot write/);
    const piped = await runMx(['download', uri, '--out', '-'], { configDir: user.configDir });
    expect(Buffer.from(piped.stdout, 'latin1').length).toBeGreaterThan(0);
  });

  it('refuses malformed and path-like mxc:// URIs (usage) and unknown media (not found)', async () => {
    const user = await registerUser();
    for (const bad of ['https://example.org/x', 'mxc://localhost', 'mxc://localhost/a/b', 'mxc://localhost/..', 'mxc://bad host/x']) {
      expectExit(await runMx(['download', bad], { configDir: user.configDir }), 2, /invalid mxc/);
    }
    expectExit(await runMx(['download', 'mxc://localhost/doesnotexist123'], { configDir: user.configDir }), 5, /M_NOT_FOUND|not found/i);
    expectExit(await runMx(['download'], { configDir: user.configDir }), 2, /give an mxc/);
  });
});

describe('attachments of events', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'media peer' });
  });
  afterAll(() => peer?.stop());

  it('mx download --event decrypts the peer\'s encrypted file and checks its hash; mx tail --download saves arriving ones', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    await runMx(['tail', '--until-idle'], opts); // the position: now
    const bytes = randomBytes(150_000);
    const { eventId } = await peer.sendEncryptedFile(roomId, bytes, { name: 'report.pdf', mimetype: 'application/pdf' });
    const dir = path.join(user.configDir, 'attachments');

    mkdirSync(`${dir}-one`);
    const saved = await mxJson<{ path: string; size: number; content_type: string }>(['download', '--event', roomId, eventId, '--out', `${dir}-one/`], opts);
    expect(path.basename(saved.path)).toBe('report.pdf');
    expect(saved.content_type).toBe('application/pdf');
    expect(readFileSync(saved.path)).toEqual(bytes);

    const tail = await runMx(['tail', '--count', '1', '--room', roomId, '--download', dir], opts);
    expect(tail.code, describeResult(['tail', '--download'], tail)).toBe(0);
    const [line] = parseJsonLines<{ event_id: string; download?: { path: string; size: number } }>(tail.stdout);
    expect(line!.event_id).toBe(eventId);
    expect(line!.download!.path.startsWith(dir + path.sep)).toBe(true);
    expect(readFileSync(line!.download!.path)).toEqual(bytes);
    expect(line!.download!.size).toBe(bytes.length);
  });

  it('an attachment whose bytes do not match the event\'s hash is refused, and nothing is written', async () => {
    const user = await registerUser();
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create'], { configDir: user.configDir });
    const { accessToken } = await profileCredentials(user.configDir, user.profile);
    const file = await encryptAndUpload(homeserverUrl(), accessToken, new Uint8Array(randomBytes(10_000)));
    const tampered = { ...file, hashes: { sha256: Buffer.from(randomBytes(32)).toString('base64').replace(/=+$/, '') } };
    const sent = await mxJson<{ event_id: string }>(['send', roomId, '--json', JSON.stringify({ msgtype: 'm.file', body: 'evil.bin', file: tampered })], { configDir: user.configDir });
    const folder = path.join(user.configDir, 'out');
    mkdirSync(folder);
    const r = await runMx(['download', '--event', roomId, sent.event_id, '--out', `${folder}/`], { configDir: user.configDir });
    expect(r.code, describeResult(['download', '--event'], r)).toBe(1);
    expect(r.stderr).toMatch(/does not match its SHA-256/);
    expect(existsSync(path.join(folder, 'evil.bin'))).toBe(false);
    // And an event without an attachment says so.
    const text = await mxJson<{ event_id: string }>(['send', roomId, 'no file here'], { configDir: user.configDir });
    expectExit(await runMx(['download', '--event', roomId, text.event_id], { configDir: user.configDir }), 2, /has no attachment/);
  });
});
