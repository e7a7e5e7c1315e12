// mx never sends clear text into a room whose state has m.room.encryption, whatever the send kind,
// also when the room becomes encrypted in the middle of a `send --lines` run: what reaches the
// server is ciphertext (or, where mx cannot encrypt, nothing: encryption.test.ts).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRoomViaApi, describeResult, mxJson, registerUser, roomHistory, runMx, startMx, waitUntil } from './helpers.js';

const ENCRYPTION = { type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } };

describe('never clear text into an encrypted room', () => {
  it('every send kind goes out encrypted, a file too; state events stay state events', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const roomId = await createRoomViaApi(user.configDir, user.profile, { preset: 'private_chat', initial_state: [ENCRYPTION] });
    // Every secret has a '-', which base64 (the ciphertext) never holds: found on the server, it leaked.
    const file = path.join(user.configDir, 'secret-report.txt');
    writeFileSync(file, 'secret-file-content');
    const kinds: string[][] = [
      ['secret-text hunter2'],
      ['secret-notice', '--notice'],
      ['secret-emote', '--emote'],
      ['--html', '<b>secret-html</b>'],
      ['**secret-markdown**', '--markdown'],
      ['--json', '{"msgtype":"m.text","body":"secret-json"}'],
      ['--type', 'com.example.custom', '--json', '{"field":"secret-custom"}'],
      ['--location', 'geo:51.5,0.12', 'secret-location'],
      ['--file', file],
      ['-'],
    ];
    for (const args of kinds) {
      const r = await runMx(['send', roomId, ...args], { ...opts, input: 'secret-stdin' });
      expect(r.code, describeResult(['send', ...args], r)).toBe(0);
      expect(JSON.parse(r.stdout).encrypted).toBe(true);
    }
    const lines = await runMx(['send', roomId, '--lines'], { ...opts, input: 'secret-line-1\nsecret-line-2\n' });
    expect(lines.code, describeResult(['send', '--lines'], lines)).toBe(0);

    const topic = await runMx(['send', roomId, '--type', 'm.room.topic', '--state-key', '', '--json', '{"topic":"still fine"}'], opts);
    expect(topic.code, describeResult(['send', 'state'], topic)).toBe(0);

    // The server's view (mx api is raw): only ciphertext, and no word of the plaintext anywhere.
    const history = await roomHistory(user.configDir, roomId);
    const mine = history.filter((e) => e.sender === user.userId && e.state_key === undefined);
    expect(mine).toHaveLength(kinds.length + 2);
    expect(mine.every((e) => e.type === 'm.room.encrypted')).toBe(true);
    const serverView = JSON.stringify(history);
    expect(serverView).not.toContain('hunter2');
    expect(serverView).not.toContain('secret-');
    expect(history.some((e) => e.type === 'm.room.topic' && e.content.topic === 'still fine')).toBe(true);
  });

  it('a room switched to encrypted during send --lines gets the following lines encrypted', async () => {
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
    mx.child.stdin!.end('secret-after\n');
    const result = await mx.done;
    expect(result.code, describeResult(['send', '--lines'], result)).toBe(0);
    const history = await roomHistory(user.configDir, roomId);
    expect(history.filter((e) => e.type === 'm.room.message').map((e) => e.content.body)).toEqual(['before']);
    expect(history.filter((e) => e.type === 'm.room.encrypted')).toHaveLength(1);
    expect(JSON.stringify(history)).not.toContain('secret-after');
  });
});
