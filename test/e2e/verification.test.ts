// Emoji (SAS) verification with Element: matrix-js-sdk in OnlySignedDevicesIsolationMode with
// cross-signing (the test peer), driven through its verification API. mx is run as a script runs
// it: steps as JSON lines on stdout, the answer on stdin.
import { describe, expect, it } from 'vitest';
import type { Peer, StartPeerOptions } from '../peer/index.js';
import { peersStoppedAfterEach } from './encryption-helpers.js';
import { describeResult, homeserverUrl, parseJsonLines, registerUser, runMx, startMx, tempConfigDir, uniqueUser, waitUntil, type RunningMx } from './helpers.js';

const peerOf = peersStoppedAfterEach();
function element(opts: Partial<StartPeerOptions> = {}): Promise<Peer> {
  return peerOf({ homeserverUrl: homeserverUrl(), deviceName: 'element', asElement: true, ...opts });
}

interface Step {
  step: string;
  flow_id?: string;
  emoji?: { symbol: string; name: string; index: number }[];
  decimals?: number[];
  code?: string;
  by?: string;
  [key: string]: unknown;
}

function steps(mx: RunningMx): Step[] {
  return parseJsonLines<Step>(mx.stdout());
}

async function stepOf(mx: RunningMx, name: string, timeoutMs = 20_000): Promise<Step> {
  await waitUntil(() => steps(mx).some((s) => s.step === name), `mx's ${name} step\n${mx.stdout()}\n${mx.stderr()}`, timeoutMs);
  return steps(mx).find((s) => s.step === name)!;
}

/** mx logged in as the peer's user on a machine of its own (no recovery key kept there): an unverified new device. */
async function mxLoginAs(peer: Peer): Promise<{ configDir: string; deviceId: string }> {
  const configDir = tempConfigDir();
  const args = ['login', peer.userId, '--password-stdin', '--homeserver', homeserverUrl()];
  const r = await runMx(args, { configDir, input: peer.password! });
  expect(r.code, describeResult(args, r)).toBe(0);
  return { configDir, deviceId: (JSON.parse(r.stdout) as { device_id: string }).device_id };
}

/** A room of both, so that each side's client knows the other's devices (an unknown device's request is dropped). */
async function sharedRoom(peer: Peer, me: { userId: string; configDir: string }): Promise<string> {
  const roomId = await peer.createEncryptedRoom({ invite: [me.userId] });
  const joined = await runMx(['join', roomId], { configDir: me.configDir });
  expect(joined.code, describeResult(['join'], joined)).toBe(0);
  await peer.waitForMembership(roomId, me.userId, 'join');
  return roomId;
}

describe('mx verify --self, from Element on another device', () => {
  it('verifies the new device, gets the secrets and the backup, while a tail of the same profile keeps running', async () => {
    const peer = await element();
    const roomId = await peer.createEncryptedRoom();
    await peer.sendText(roomId, 'before mx came');
    await waitUntil(async () => (await peer.serverBackupKeyCount()) > 0, 'the peer backs up its room key');
    const { configDir, deviceId } = await mxLoginAs(peer);
    expect(await peer.deviceSignedByOwner(peer.userId, deviceId)).toBe(false);

    const tail = startMx(['tail', '-o', 'json'], { configDir, timeoutMs: 120_000 });
    const verify = startMx(['verify', '--self', '-o', 'json'], { configDir, keepStdinOpen: true, timeoutMs: 90_000 });
    const request = await peer.waitForVerificationRequest({ from: peer.userId, timeoutMs: 20_000 });
    await request.accept();
    // The peer never sends start: mx, which asked, must.
    const sas = await request.waitForSas(20_000);
    const shown = await stepOf(verify, 'sas');
    expect(shown.emoji!.map((e) => e.name)).toEqual(sas.emoji.map((e) => e.name));
    expect(shown.decimals).toEqual(sas.decimals);
    // Another process of the profile works on while the verification waits for its answer.
    const during = await runMx(['send', roomId, 'sent during the verification'], { configDir });
    expect(during.code, describeResult(['send'], during)).toBe(0);
    verify.child.stdin!.write('yes\n');
    await request.confirm();
    await request.waitForDone(20_000);
    const result = await verify.done;
    expect(result.code, describeResult(['verify', '--self'], result)).toBe(0);
    const done = steps(verify).find((s) => s.step === 'done')!;
    expect(done).toMatchObject({ this_device_cross_signed: true, secrets: { cross_signing: true, backup: true }, backup: { imported: 1 } });
    await expect.poll(() => peer.deviceSignedByOwner(peer.userId, deviceId), { timeout: 10_000 }).toBe(true);

    // History from the backup, and the account's keys as after a recovery.
    const history = await runMx(['room', 'messages', roomId], { configDir });
    expect(parseJsonLines<{ content: { body?: string } }>(history.stdout).map((e) => e.content.body)).toContain('before mx came');
    const status = JSON.parse((await runMx(['crypto', 'status', '-o', 'json'], { configDir })).stdout) as Record<string, any>;
    expect(status).toMatchObject({ cross_signed: true, cross_signing: { master: true, self_signing: true, user_signing: true } });

    expect(parseJsonLines<{ content: { body?: string } }>(history.stdout).map((e) => e.content.body)).toContain('sent during the verification');
    // Element reads what the verified device sends now.
    expect((await runMx(['send', roomId, 'from a verified device'], { configDir })).code).toBe(0);
    await peer.waitForDecryptedMessages(roomId, (m) => m.content.body === 'from a verified device', 15_000);

    // The tail went on throughout: it reads what Element sends now, to a device Element trusts.
    await peer.sendText(roomId, 'after the verification');
    await waitUntil(() => tail.stdout().includes('after the verification'), `the tail prints the message\n${tail.stderr()}`);
    tail.child.kill('SIGINT');
    expect((await tail.done).code).toBe(130);
  });

  it('ends with the cancel code when Element cancels, with nothing verified', async () => {
    const peer = await element();
    const { configDir, deviceId } = await mxLoginAs(peer);
    const verify = startMx(['verify', '--self', '-o', 'json'], { configDir, keepStdinOpen: true, timeoutMs: 60_000 });
    const request = await peer.waitForVerificationRequest({ from: peer.userId, timeoutMs: 20_000 });
    await request.accept();
    await stepOf(verify, 'ready');
    await request.cancel();
    const result = await verify.done;
    expect(result.code, describeResult(['verify'], result)).toBe(10);
    expect(steps(verify).at(-1)).toMatchObject({ step: 'cancelled', code: 'm.user', by: 'them' });
    expect(await peer.deviceSignedByOwner(peer.userId, deviceId)).toBe(false);
  });
  it('Ctrl-C cancels (m.user) before mx exits with 130; mx verify cancel ends a flow another mx goes through', async () => {
    const peer = await element();
    const { configDir } = await mxLoginAs(peer);
    const first = startMx(['verify', '--self', '-o', 'json'], { configDir, keepStdinOpen: true, timeoutMs: 60_000 });
    const interrupted = await peer.waitForVerificationRequest({ from: peer.userId, timeoutMs: 20_000 });
    await interrupted.accept();
    await stepOf(first, 'ready');
    first.child.kill('SIGINT');
    expect((await first.done).code).toBe(130);
    expect((await interrupted.waitForCancel(10_000)).code).toBe('m.user');

    const second = startMx(['verify', '--self', '-o', 'json'], { configDir, keepStdinOpen: true, timeoutMs: 60_000 });
    const request = await peer.waitForVerificationRequest({ from: peer.userId, timeoutMs: 20_000 });
    await request.accept();
    await stepOf(second, 'sas');
    const listed = JSON.parse((await runMx(['verify', 'list', '-o', 'json'], { configDir })).stdout) as { flow_id: string; pid?: number }[];
    expect(listed).toEqual([expect.objectContaining({ flow_id: request.flowId, pid: second.child.pid })]);
    const cancel = await runMx(['verify', 'cancel', '-o', 'json'], { configDir });
    expect(cancel.code, describeResult(['verify', 'cancel'], cancel)).toBe(0);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ flow_id: request.flowId, by_process: second.child.pid });
    const ended = await second.done;
    expect(ended.code, describeResult(['verify'], ended)).toBe(10);
    expect(steps(second).at(-1)).toMatchObject({ step: 'cancelled', by: 'us' });
    expect((await request.waitForCancel(10_000)).code).toMatch(/^m\.(user|mismatched_sas)$/);
  });
});

describe('mx verify USER, in the direct chat', () => {
  it('verifies Element\'s user when mx asks (mx starts the SAS), and their events then carry identity "verified"', async () => {
    const me = await registerUser({ cryptoSetup: true, user: uniqueUser('verifier') });
    const peer = await element();
    // The direct chat, as `mx send @user` makes it; mx verify finds it there.
    const hello = await runMx(['send', peer.userId, 'hello'], { configDir: me.configDir });
    expect(hello.code, describeResult(['send'], hello)).toBe(0);
    const dm = (JSON.parse(hello.stdout) as { room_id: string }).room_id;
    await peer.joinRoom(dm);
    const verify = startMx(['verify', peer.userId, '-o', 'json'], { configDir: me.configDir, keepStdinOpen: true, timeoutMs: 90_000 });
    const request = await peer.waitForVerificationRequest({ from: me.userId, timeoutMs: 20_000 });
    expect(request.roomId).toBe(dm);
    await request.accept();
    const sas = await request.waitForSas(20_000);
    expect((await stepOf(verify, 'sas')).emoji!.map((e) => e.name)).toEqual(sas.emoji.map((e) => e.name));
    verify.child.stdin!.write('yes\n');
    await request.confirm();
    const result = await verify.done;
    expect(result.code, describeResult(['verify'], result)).toBe(0);
    expect(steps(verify).find((s) => s.step === 'done')).toMatchObject({ user_id: peer.userId, identity_verified: true });
    await expect.poll(() => peer.userIdentityVerified(me.userId), { timeout: 10_000 }).toBe(true);

    await peer.sendText(request.roomId!, 'from a verified identity');
    const r = await runMx(['room', 'messages', request.roomId!], { configDir: me.configDir });
    const line = parseJsonLines<{ content: { body?: string }; encryption?: { identity?: string } }>(r.stdout).find((e) => e.content.body === 'from a verified identity');
    expect(line?.encryption?.identity).toBe('verified');
  });

  it('accepts Element\'s request (mx verify accept); a peer that answers and never starts gets mx\'s start', async () => {
    const me = await registerUser({ cryptoSetup: true, user: uniqueUser('acceptor') });
    const peer = await element();
    const roomId = await peer.createEncryptedRoom({ invite: [me.userId], isDirect: true });
    expect((await runMx(['join', roomId], { configDir: me.configDir })).code).toBe(0);
    await peer.waitForMembership(roomId, me.userId, 'join');
    const accept = startMx(['verify', 'accept', '--from', peer.userId, '--timeout', '30', '-o', 'json'], { configDir: me.configDir, keepStdinOpen: true, timeoutMs: 90_000 });
    const request = await peer.requestUserVerification(me.userId, roomId);
    // The peer asked and does not start: mx accepts, waits a moment, then starts itself.
    const sas = await request.waitForSas(30_000);
    expect((await stepOf(accept, 'sas')).emoji!.map((e) => e.name)).toEqual(sas.emoji.map((e) => e.name));
    accept.child.stdin!.write('yes\n');
    await request.confirm();
    const result = await accept.done;
    expect(result.code, describeResult(['verify', 'accept'], result)).toBe(0);
    expect(steps(accept).find((s) => s.step === 'done')).toMatchObject({ identity_verified: true });
  });

  it('cancels with m.mismatched_sas when --expect names other emoji (Element started), exit 11', async () => {
    const me = await registerUser({ cryptoSetup: true, user: uniqueUser('mismatch') });
    const peer = await element();
    await sharedRoom(peer, me);
    const wrong = 'Dog,Dog,Dog,Dog,Dog,Dog,Dog';
    const accept = startMx(['verify', 'accept', '--expect', wrong, '--timeout', '30', '-o', 'json'], { configDir: me.configDir, timeoutMs: 90_000 });
    const request = await peer.requestDeviceVerification(me.userId, (me.output as { device_id: string }).device_id);
    await request.start(30_000);
    const cancel = await request.waitForCancel(30_000);
    expect(cancel.code).toBe('m.mismatched_sas');
    const result = await accept.done;
    expect(result.code, describeResult(['verify', 'accept'], result)).toBe(11);
    expect(steps(accept).at(-1)).toMatchObject({ step: 'cancelled', code: 'm.mismatched_sas', by: 'us' });
  });
});

describe('mx verify: bad input and hostile peers', () => {
  it('refuses what cannot be verified with a clear error and its exit code', async () => {
    const me = await registerUser({ cryptoSetup: true, user: uniqueUser('badinput') });
    const run = (args: string[]) => runMx(args, { configDir: me.configDir });
    const cases: [string[], number, RegExp][] = [
      [['verify'], 2, /--self/],
      [['verify', '--self', me.userId], 2, /not both/],
      [['verify', 'not-a-user'], 2, /user ID/],
      [['verify', '--self', '--expect', 'Dog,Cat'], 2, /seven emoji names/],
      [['verify', '--self', '--device', 'NOSUCHDEVICE'], 5, /no device NOSUCHDEVICE/],
      [['verify', '--self'], 5, /no other device/],
      [['verify', `@nobody-${Date.now()}:${me.userId.split(':')[1]}`], 5, /no device with encryption keys/],
      [['verify', 'cancel'], 5, /no verification is in flight/],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(args);
      expect(r.code, describeResult(args, r)).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('gives up an unanswered request after --timeout with m.timeout (exit 12)', async () => {
    const me = await registerUser({ cryptoSetup: true, user: uniqueUser('timeout') });
    const peer = await element();
    await sharedRoom(peer, me);
    const verify = startMx(['verify', peer.userId, '--device', peer.deviceId, '--timeout', '3', '-o', 'json'], { configDir: me.configDir, timeoutMs: 60_000 });
    const request = await peer.waitForVerificationRequest({ from: me.userId, timeoutMs: 20_000 });
    const result = await verify.done;
    expect(result.code, describeResult(['verify'], result)).toBe(12);
    expect(steps(verify).at(-1)).toMatchObject({ step: 'cancelled', code: 'm.timeout' });
    await request.waitForCancel(10_000);
  });

  it('survives garbled and out-of-order messages in its flow: cancelled with the engine\'s code, no crash, the store still works', async () => {
    const peer = await element();
    const { configDir, deviceId } = await mxLoginAs(peer);
    const accept = startMx(['verify', 'accept', '--timeout', '30', '-o', 'json'], { configDir, keepStdinOpen: true, timeoutMs: 60_000 });
    const request = await peer.requestOwnVerification({ deviceId });
    // Out of order (a mac before anything) and garbled (keys not a string).
    await request.sendRaw('m.key.verification.mac', { mac: { nonsense: 1 }, keys: 42 });
    await stepOf(accept, 'ready');
    // A start no client could carry out: methods nobody knows.
    await request.sendRaw('m.key.verification.start', {
      from_device: peer.deviceId, method: 'm.sas.v1', key_agreement_protocols: ['bogus'], hashes: ['bogus'],
      message_authentication_codes: ['bogus'], short_authentication_string: ['bogus'],
    });
    const result = await accept.done;
    expect(result.code, describeResult(['verify', 'accept'], result)).toBe(10);
    expect(steps(accept).at(-1)).toMatchObject({ step: 'cancelled', code: expect.stringMatching(/^m\.(unknown_method|invalid_message|unexpected_message)$/) });
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const status = await runMx(['crypto', 'status', '-o', 'json'], { configDir });
    expect(status.code, describeResult(['crypto', 'status'], status)).toBe(0);
  });

  it('keeps a request that came while only a tail ran: the tail prints it, mx verify list shows it, cancel tells the sender', async () => {
    const peer = await element();
    const { configDir, deviceId } = await mxLoginAs(peer);
    const tail = startMx(['tail', '-o', 'json'], { configDir, timeoutMs: 60_000 });
    // The tail's first sync (from now) is made before the request comes.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const request = await peer.requestOwnVerification({ deviceId });
    await waitUntil(() => tail.stdout().includes('m.key.verification.request'), `the tail prints the request\n${tail.stderr()}`);
    const listed = JSON.parse((await runMx(['verify', 'list', '-o', 'json'], { configDir })).stdout) as { flow_id: string; state: string; user_id: string }[];
    expect(listed).toEqual([expect.objectContaining({ flow_id: request.flowId, state: 'waiting', user_id: peer.userId })]);
    const cancelled = await runMx(['verify', 'cancel', request.flowId, '-o', 'json'], { configDir });
    expect(cancelled.code, describeResult(['verify', 'cancel'], cancelled)).toBe(0);
    expect((await request.waitForCancel(10_000)).code).toBe('m.user');
    expect(JSON.parse((await runMx(['verify', 'list', '-o', 'json'], { configDir })).stdout)).toEqual([]);
    tail.child.kill('SIGINT');
    await tail.done;
  });
});
