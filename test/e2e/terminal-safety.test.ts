// A room member cannot take over the reader's terminal: mx tail and mx room messages run in a
// pseudo-terminal (util-linux `script`), against a real Synapse room where a member sent a body
// that would clear the screen, set the title, write the clipboard and plant a link, and set a
// room name and display name of the same kind. The bytes the terminal gets hold none of it;
// JSON output of the same events keeps every string exactly as the server has it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { createRoomViaApi, describeResult, mxBin, mxJson, parseJsonLines, profileCredentials, registerUser, repoRoot, runMx, sendTexts, tempConfigDir, type RoomEvent } from './helpers.js';

const SCRIPT = '/usr/bin/script';
const HOSTILE = 'x\x1b]0;T\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07\u202eevil\u009b2J';
const HOSTILE_NAME = 'Room\x1b]0;pwned\x07\x1b[31mRED\u202e';
const HOSTILE_DISPLAYNAME = 'Mal\x1b]8;;https://evil.example/\x07lory\x1b[2J\u2066';
/** Nothing a terminal acts on, once mx's own colours are taken out (line breaks and tabs are layout; a pty adds \r). */
const UNSAFE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const OWN_SGR = /\x1b\[(?:1|2|22|31|32|33|39)m/g;

/** Runs mx in a pseudo-terminal and resolves with every byte the terminal got. */
function inTerminal(args: string[], configDir: string): Promise<{ code: number | null; bytes: Buffer }> {
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, mxBin, ...args].map(quote).join(' ');
  const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: os.tmpdir(), LANG: 'C.UTF-8', TZ: 'UTC', TERM: 'xterm-256color', MX_CONFIG_DIR: configDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, bytes: Buffer.concat(chunks) });
    });
  });
}

function expectNothingForTheTerminal(bytes: Buffer, what: string): string {
  const text = bytes.toString('utf8').replace(OWN_SGR, '');
  const found = UNSAFE.exec(text);
  expect(found ? `${what}: U+${found[0].charCodeAt(0).toString(16)} near ${JSON.stringify(text.slice(Math.max(0, found.index - 30), found.index + 30))}` : undefined).toBeUndefined();
  return text;
}

describe.skipIf(!existsSync(SCRIPT))('a hostile room member, read in a terminal', () => {
  it('tail -o text and room messages -o text show the body, room name and display name, never run them; JSON stays exact', async () => {
    const configDir = tempConfigDir();
    const reader = await registerUser({ profile: 'reader', configDir });
    const member = await registerUser({ profile: 'member', configDir });
    const opts = { configDir };
    const roomId = await createRoomViaApi(configDir, 'reader', { preset: 'public_chat' });
    // The reader's tail starts now: what the member does next is what it reads.
    const start = await runMx(['-p', 'reader', 'tail', '--until-idle'], opts);
    expect(start.code, describeResult(['tail'], start)).toBe(0);

    await mxJson(['-p', 'member', 'api', 'PUT', '/v3/profile/{me}/displayname', '--data', JSON.stringify({ displayname: HOSTILE_DISPLAYNAME })], opts);
    await mxJson(['-p', 'member', 'join', roomId], opts);
    await mxJson(['-p', 'reader', 'api', 'PUT', `/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels`, '--data', JSON.stringify({ users: { [reader.userId]: 100, [member.userId]: 50 } })], opts);
    await mxJson(['-p', 'member', 'api', 'PUT', `/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.name`, '--data', JSON.stringify({ name: HOSTILE_NAME })], opts);
    await sendTexts(await profileCredentials(configDir, 'member'), roomId, [HOSTILE]);

    const tail = await inTerminal(['-p', 'reader', 'tail', '--until-idle', '-o', 'text'], configDir);
    const tailText = expectNothingForTheTerminal(tail.bytes, 'tail');
    expect(tail.code, tailText).toBe(0);
    // mx's own colours: it did write to a terminal.
    expect(tail.bytes.includes('\x1b[2m')).toBe(true);
    expect(tailText).toContain('x^[]0;T^G^[[2J^[]52;c;cHduZWQ=^G');
    expect(tailText).toContain('named the room "Room^[]0;pwned^G^[[31mRED<U+202E>"');
    expect(tailText).toContain('joined as "Mal^[]8;;https://evil.example/^Glory^[[2J<U+2066>"');

    const history = await inTerminal(['-p', 'reader', 'room', 'messages', roomId, '-o', 'text', '--limit', '20'], configDir);
    const historyText = expectNothingForTheTerminal(history.bytes, 'room messages');
    expect(history.code, historyText).toBe(0);
    expect(historyText).toContain('<U+202E>evil<U+009B>2J');

    // JSON (piped) of the same events: every string exactly as the server has it.
    const raw = await mxJson<{ chunk: RoomEvent[] }>(['-p', 'reader', 'api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=20`], opts);
    const json = await runMx(['-p', 'reader', 'room', 'messages', roomId, '-o', 'json', '--limit', '20'], opts);
    const lines = parseJsonLines<RoomEvent>(json.stdout);
    const byId = new Map(raw.chunk.map((e) => [e.event_id, e]));
    for (const line of lines) expect(line.content).toEqual(byId.get(line.event_id)!.content);
    expect(lines.map((e) => e.content.body)).toContain(HOSTILE);
    expect(lines.map((e) => e.content.name)).toContain(HOSTILE_NAME);
    expect(lines.map((e) => e.content.displayname)).toContain(HOSTILE_DISPLAYNAME);
    expect(json.stdout).toContain(JSON.stringify(HOSTILE));
  });
});
