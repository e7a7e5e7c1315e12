// mx never sends clear text into a room whose state has m.room.encryption, whatever the send kind,
// also when the room becomes encrypted in the middle of a `send --lines` run.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRoomViaApi, describeResult, mxJson, registerUser, roomHistory, runMx, startMx, waitUntil } from './helpers.js';

const ENCRYPTION = { type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } };

describe('never clear text into an encrypted room', () => {
  it('every send kind is refused before anything leaves mx; state events still go', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const roomId = await createRoomViaApi(user.configDir, user.profile, { preset: 'private_chat', initial_state: [ENCRYPTION] });
    const file = path.join(user.configDir, 'report.txt');
    writeFileSync(file, 'quarterly secrets');
    const kinds: string[][] = [
      ['my password is hunter2'],
      ['notice', '--notice'],
      ['emote', '--emote'],
      ['--html', '<b>bold</b>'],
      ['**md**', '--markdown'],
      ['--json', '{"msgtype":"m.text","body":"json"}'],
      ['--type', 'com.example.custom', '--json', '{"secret":1}'],
      ['--location', 'geo:51.5,0.12'],
      ['--file', file],
      ['-'],
    ];
    for (const args of kinds) {
      const r = await runMx(['send', roomId, ...args], { ...opts, input: 'from stdin' });
      expect(r.code, describeResult(['send', ...args], r)).toBe(9);
      expect(JSON.parse(r.stderr).error.message).toMatch(/encrypted room/);
    }
    const lines = await runMx(['send', roomId, '--lines'], { ...opts, input: 'one\ntwo\n' });
    expect(lines.code, describeResult(['send', '--lines'], lines)).toBe(9);

    const topic = await runMx(['send', roomId, '--type', 'm.room.topic', '--state-key', '', '--json', '{"topic":"still fine"}'], opts);
    expect(topic.code, describeResult(['send', 'state'], topic)).toBe(0);

    const history = await roomHistory(user.configDir, roomId);
    const mine = history.filter((e) => e.sender === user.userId && e.state_key === undefined);
    expect(mine).toEqual([]);
    expect(history.some((e) => e.type === 'm.room.topic' && e.content.topic === 'still fine')).toBe(true);
  });

  it('a room switched to encrypted during send --lines gets no further clear text', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const roomId = await createRoomViaApi(user.configDir, user.profile, { preset: 'private_chat' });
    const mx = startMx(['send', roomId, '--lines'], { ...opts, keepStdinOpen: true });
    mx.child.stdin!.write('before\n');
    await waitUntil(() => mx.stdout().includes('"line":1'), 'the first line to be sent');
    const on = await mxJson<{ event_id: string }>(
      ['send', roomId, '--type', 'm.room.encryption', '--state-key', '', '--json', JSON.stringify(ENCRYPTION.content)],
      opts,
    );
    expect(on.event_id).toMatch(/^\$/);
    mx.child.stdin!.end('after\n');
    const result = await mx.done;
    expect(result.code, describeResult(['send', '--lines'], result)).toBe(9);
    const bodies = (await roomHistory(user.configDir, roomId)).filter((e) => e.type === 'm.room.message').map((e) => e.content.body);
    expect(bodies).toEqual(['before']);
  });
});
