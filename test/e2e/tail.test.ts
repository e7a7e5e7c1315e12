// mx tail and mx sync against a real Synapse: exactly once under load, gaps, kill -9, pipes,
// cursors. Messages are sent straight from the test process (sendTexts) to keep the load high
// and the run short; the room's own order (its /messages history) is the order to check.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createRoomViaApi,
  describeResult,
  mxBin,
  mxJson,
  profileCredentials,
  registerUser,
  repoRoot,
  roomHistory,
  runMx,
  sendTexts,
  startMx,
  waitUntil,
  type RegisteredUser,
} from './helpers.js';

interface Line {
  event_id: string;
  type: string;
  room_id: string;
  sender: string;
  content: { body?: string; membership?: string };
}

/** The JSON lines of a tail's output; a last line cut off by kill -9 is left out. */
function lines(text: string): Line[] {
  const out: Line[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Line);
    } catch {
      /* a partial last line */
    }
  }
  return out;
}

const messages = (text: string) => lines(text).filter((l) => l.type === 'm.room.message');

async function positions(user: RegisteredUser): Promise<Record<string, string>> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(path.join(user.configDir, 'profiles.json'), 'utf8')).profiles[user.profile].positions ?? {};
}

/** Runs a shell pipeline with mx as `mx` (a function), in the user's config dir. */
function shell(command: string, user: RegisteredUser, timeoutMs = 60_000) {
  const child = spawn('bash', ['-c', `mx() { "${process.execPath}" "${mxBin}" "$@"; }\n${command}`], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: os.tmpdir(), LANG: 'C.UTF-8', TZ: 'UTC', MX_CONFIG_DIR: user.configDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${command}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, stdout: () => stdout };
}

/** A user with rooms, and a tail position saved "now" (so a tail started later misses nothing sent after this). */
async function setup(roomCount: number, cursors: string[] = ['default']) {
  const user = await registerUser();
  const rooms: string[] = [];
  for (let i = 0; i < roomCount; i++) rooms.push(await createRoomViaApi(user.configDir, user.profile, { name: `room ${i}` }));
  for (const cursor of cursors) {
    const r = await runMx(['tail', '--until-idle', '--cursor', cursor], { configDir: user.configDir });
    expect(r.code, describeResult(['tail', '--until-idle'], r)).toBe(0);
  }
  const creds = await profileCredentials(user.configDir, user.profile);
  return { user, rooms, creds };
}

/** Every event ID exactly once, and each room's events in the room's own order. */
async function expectExactlyOnceInOrder(user: RegisteredUser, got: Line[], sent: Map<string, string[]>) {
  const ids = got.map((l) => l.event_id);
  expect(new Set(ids).size, 'no event twice').toBe(ids.length);
  const expected = [...sent.values()].flat();
  expect(new Set(ids)).toEqual(new Set(expected));
  for (const [roomId, roomIds] of sent) {
    const wanted = new Set(roomIds);
    const history = (await roomHistory(user.configDir, roomId)).map((e) => e.event_id).filter((id) => wanted.has(id));
    expect(got.filter((l) => l.room_id === roomId).map((l) => l.event_id), `order in ${roomId}`).toEqual(history);
  }
}

describe('mx tail', () => {
  it('500 messages across 3 rooms while tail runs: each appears exactly once, in order within its room', async () => {
    const { user, rooms, creds } = await setup(3);
    const tail = startMx(['tail'], { configDir: user.configDir, timeoutMs: 180_000 });
    const counts = [167, 167, 166];
    const sent = new Map<string, string[]>();
    await Promise.all(
      rooms.map(async (roomId, r) => {
        const bodies = Array.from({ length: counts[r]! }, (_, i) => `room ${r} message ${i}`);
        sent.set(roomId, await sendTexts(creds, roomId, bodies, { concurrency: 2 }));
      }),
    );
    await waitUntil(() => messages(tail.stdout()).length >= 500, '500 lines from tail', 60_000);
    tail.child.kill('SIGINT');
    const result = await tail.done;
    // Exited by itself (saving its position), not killed by the signal.
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(130);
    const got = messages(result.stdout);
    expect(got).toHaveLength(500);
    await expectExactlyOnceInOrder(user, got, sent);
    // Saved at the end of the last batch: a bare sync token.
    expect((await positions(user))['tail:default']).toMatch(/^[^{]/);
  });

  it('a gap: 300 messages while no tail runs come out in full, in order, with a small timeline limit', async () => {
    const { user, rooms, creds } = await setup(1);
    const sent = new Map([[rooms[0]!, await sendTexts(creds, rooms[0]!, Array.from({ length: 300 }, (_, i) => `gap ${i}`), { concurrency: 4 })]]);
    const args = ['tail', '--from', 'saved', '--limit', '5', '--until-idle', '--debug'];
    const r = await runMx(args, { configDir: user.configDir, timeoutMs: 60_000 });
    expect(r.code, describeResult(args, r)).toBe(0);
    expect(r.stderr).toContain('from /messages (limited timeline)');
    const got = lines(r.stdout);
    expect(got).toHaveLength(300);
    await expectExactlyOnceInOrder(user, got, sent);
    // Nothing left over: the next run finds nothing new.
    expect((await runMx(['tail', '--until-idle'], { configDir: user.configDir })).stdout).toBe('');
  });

  it('kill -9 in the middle of a burst, then a restart: together the two outputs hold every event', async () => {
    const { user, rooms, creds } = await setup(1);
    const first = startMx(['tail', '--limit', '20'], { configDir: user.configDir, timeoutMs: 120_000 });
    const sending = sendTexts(creds, rooms[0]!, Array.from({ length: 300 }, (_, i) => `burst ${i}`), { concurrency: 4 });
    await waitUntil(() => messages(first.stdout()).length >= 60, '60 lines before the kill', 60_000);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const sentIds = await sending;
    expect(messages(killed.stdout).length).toBeLessThan(300);

    const second = await runMx(['tail', '--until-idle'], { configDir: user.configDir, timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    const union = new Set([...messages(killed.stdout), ...messages(second.stdout)].map((l) => l.event_id));
    expect(sentIds.filter((id) => !union.has(id)), 'events lost').toEqual([]);
    // Each run on its own still writes each event once; repeats across the two are the replayed
    // batch (at least once: consumers de-duplicate by event_id).
    for (const out of [killed.stdout, second.stdout]) {
      const ids = messages(out).map((l) => l.event_id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it('mx tail --count 1 | jq -r .content.body prints the next message body', async () => {
    const { user, rooms, creds } = await setup(1);
    const pipeline = shell('mx tail --count 1 | jq -r .content.body', user);
    await sendTexts(creds, rooms[0]!, ['hello from the pipe']);
    const r = await pipeline.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from the pipe\n');
  });

  it('mx tail | head -n 1 exits 0 in a quiet room, its position right after the line head read', async () => {
    const { user, rooms, creds } = await setup(1);
    // In a quiet room no later write fails with EPIPE: mx must notice that head is gone by
    // itself, or the pipeline never ends (and the shell's time limit fails the test).
    const pipeline = shell('mx tail | head -n 1; echo "mx exit ${PIPESTATUS[0]}" >&2', user);
    await sendTexts(creds, rooms[0]!, ['first']);
    const r = await pipeline.done;
    expect(r.stderr).toContain('mx exit 0');
    expect(JSON.parse(r.stdout).content.body).toBe('first');
    // The line that went out is not shown again; the next one is.
    await sendTexts(creds, rooms[0]!, ['second']);
    const next = await runMx(['tail', '--count', '1'], { configDir: user.configDir });
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout).content.body).toBe('second');
  });

  it('two tails with --cursor a and --cursor b each see every event; mx send moves neither', async () => {
    const { user, rooms, creds } = await setup(1, ['a', 'b']);
    const before = await positions(user);
    const a = startMx(['tail', '--cursor', 'a', '--type', 'm.room.message'], { configDir: user.configDir, timeoutMs: 120_000 });
    const b = startMx(['tail', '--cursor', 'b'], { configDir: user.configDir, timeoutMs: 120_000 });
    const sent = new Map([[rooms[0]!, await sendTexts(creds, rooms[0]!, Array.from({ length: 100 }, (_, i) => `both ${i}`), { concurrency: 2 })]]);
    const send = await runMx(['send', rooms[0]!, 'via mx send'], { configDir: user.configDir });
    expect(send.code, send.stderr).toBe(0);
    sent.get(rooms[0]!)!.push(JSON.parse(send.stdout).event_id);
    await waitUntil(() => messages(a.stdout()).length >= 101 && messages(b.stdout()).length >= 101, 'both tails to see 101 messages', 60_000);
    a.child.kill('SIGTERM');
    b.child.kill('SIGINT');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.signal, rb.signal]).toEqual([null, null]);
    expect([ra.code, rb.code]).toEqual([143, 130]);
    await expectExactlyOnceInOrder(user, messages(ra.stdout), sent);
    await expectExactlyOnceInOrder(user, messages(rb.stdout), sent);
    const after = await positions(user);
    expect(after['tail:a']).not.toBe(before['tail:a']);
    expect(after['tail:b']).not.toBe(before['tail:b']);
    expect(after.sync).toBeUndefined();
  });
});

describe('mx sync', () => {
  it('the first run is an initial sync, the second is incremental and shows only what changed', async () => {
    const user = await registerUser();
    const quiet = await createRoomViaApi(user.configDir, user.profile, { name: 'quiet' });
    const busy = await createRoomViaApi(user.configDir, user.profile, { name: 'busy' });
    type Sync = { next_batch: string; rooms?: { join?: Record<string, { timeline: { events: Line[] } }> } };
    const first = await mxJson<Sync>(['sync'], { configDir: user.configDir });
    expect(Object.keys(first.rooms?.join ?? {}).sort()).toEqual([busy, quiet].sort());
    expect((await positions(user)).sync).toBe(first.next_batch);

    const creds = await profileCredentials(user.configDir, user.profile);
    const [id] = await sendTexts(creds, busy, ['what changed']);
    const second = await mxJson<Sync>(['sync'], { configDir: user.configDir });
    expect(Object.keys(second.rooms?.join ?? {})).toEqual([busy]);
    expect(second.rooms!.join![busy]!.timeline.events.map((e) => e.event_id)).toEqual([id]);
    expect((await positions(user)).sync).toBe(second.next_batch);

    // (--limit makes it a request Synapse has not answered before: it caches identical ones for a while.)
    const table = await runMx(['sync', '--full', '--no-save', '--limit', '3', '-o', 'table'], { configDir: user.configDir });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('busy\tjoin\t');
    expect(table.stdout).toContain(`${user.userId}: what changed`);
    expect((await positions(user)).sync).toBe(second.next_batch);
  });
});
