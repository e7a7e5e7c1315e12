// Makes dist/mx.cjs.cache, the V8 code cache bin/mx.js loads (see scripts/build.mjs).
//
// A code cache holds the bytecode of the functions that had been compiled when it was made,
// so it is made after running mx: the commands that run most often (whoami, send, send
// --lines, sync, tail) against a tiny fake homeserver in this process. The runs are chained:
// each loads the cache the previous one wrote and writes it again at exit
// (MX_CODE_CACHE_TRAINING), so the last cache holds what all of them compiled.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';

const ROOM = '!training:mx.invalid';
const USER = '@training:mx.invalid';

function message(n) {
  return {
    event_id: `$training-${n}`,
    type: 'm.room.message',
    sender: '@someone:mx.invalid',
    origin_server_ts: 1_700_000_000_000 + n,
    room_id: ROOM,
    content: { msgtype: 'm.text', body: `message ${n}` },
    unsigned: { age: 1 },
  };
}

function syncResponse(since) {
  const n = since ? Number(since.slice(1)) : 0;
  const timeline = { events: [message(2 * n + 1), message(2 * n + 2)], limited: false, prev_batch: `p${n}` };
  return {
    next_batch: `s${n + 1}`,
    account_data: { events: [] },
    presence: { events: [] },
    rooms: {
      join: {
        [ROOM]: {
          timeline,
          state: { events: [] },
          account_data: { events: [] },
          ephemeral: { events: [] },
          unread_notifications: { notification_count: 0, highlight_count: 0 },
          summary: {},
        },
      },
    },
  };
}

/** Answers the few endpoints the training commands call; anything else is a 404 and fails the build. */
function fakeHomeserver() {
  const unknown = [];
  let sent = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      const p = url.pathname;
      if (req.method === 'GET' && p === '/_matrix/client/v3/account/whoami') return reply(200, { user_id: USER, device_id: 'TRAINING' });
      // The training room is a plain room: mx asks before every message.
      if (req.method === 'GET' && p.startsWith('/_matrix/client/v3/rooms/') && p.endsWith('/state/m.room.encryption/')) {
        return reply(404, { errcode: 'M_NOT_FOUND', error: 'Event not found.' });
      }
      if (req.method === 'PUT' && p.startsWith('/_matrix/client/v3/rooms/') && p.includes('/send/')) return reply(200, { event_id: `$sent-${++sent}` });
      if (req.method === 'POST' && /^\/_matrix\/client\/v3\/user\/[^/]+\/filter$/.test(p)) return reply(200, { filter_id: '1' });
      // The adopted token's device has keys of another client's: login sets up no encryption.
      if (req.method === 'POST' && p === '/_matrix/client/v3/keys/query') {
        return reply(200, { device_keys: { [USER]: { TRAINING: { user_id: USER, device_id: 'TRAINING' } } } });
      }
      if (req.method === 'GET' && p === '/_matrix/client/v3/sync') return reply(200, syncResponse(url.searchParams.get('since')));
      unknown.push(`${req.method} ${p}`);
      return reply(404, { errcode: 'M_UNRECOGNIZED', error: 'not in the training server' });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}`, unknown })));
}

function runMx(root, args, env, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'mx.js'), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mx ${args.join(' ')} exited ${code}: ${stderr.trim()}`))));
  });
}

export async function trainCodeCache({ root, log }) {
  const cacheFile = path.join(root, 'dist', 'mx.cjs.cache');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mx-code-cache-'));
  const hs = await fakeHomeserver();
  const env = {
    PATH: process.env.PATH,
    HOME: tmp,
    XDG_CACHE_HOME: path.join(tmp, 'cache'),
    MX_CONFIG_DIR: path.join(tmp, 'config'),
    MX_CODE_CACHE_TRAINING: cacheFile,
    LANG: 'C.UTF-8',
  };
  const runs = [
    [['login', '--with-token', '--homeserver', hs.url], 'training-token'],
    [['whoami']],
    [['send', ROOM, 'hello']],
    [['send', ROOM, '--lines'], 'one\ntwo\nthree\n'],
    [['sync']],
    [['tail', '--count', '2']],
  ];
  try {
    for (const [args, input] of runs) await runMx(root, args, env, input);
    if (hs.unknown.length) throw new Error(`the training server was asked for ${hs.unknown.join(', ')}`);
    log(`code cache: ${path.relative(root, cacheFile)} (${(statSync(cacheFile).size / 1024).toFixed(0)} KiB)`);
  } catch (error) {
    rmSync(cacheFile, { force: true });
    throw new Error(`making the code cache failed: ${error.message}`, { cause: error });
  } finally {
    hs.server.closeAllConnections();
    hs.server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
