// Servers that misbehave the way real networks do, started by the tests: one that accepts
// connections and never answers (a black-holed load balancer), one whose answer trickles in
// forever, one that sends a huge body, one whose accept queue is full (connects hang), and TLS
// servers with certificates from a private CA made here with openssl (good, expired, for
// another host, self-signed). mx runs as a subprocess with MX_HOMESERVER + MX_ACCESS_TOKEN.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMx, startMx, tempConfigDir, type MxResult } from './helpers.js';

const servers: { close(): void }[] = [];
afterAll(() => {
  for (const server of servers) server.close();
});

async function listen<T extends net.Server>(server: T): Promise<string> {
  servers.push(server);
  server.on('connection', (socket: net.Socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return String((server.address() as AddressInfo).port);
}

/** mx with a token and homeserver from the environment: no profile, no files. */
function mxAt(url: string, args: string[], env: Record<string, string> = {}): Promise<MxResult> {
  return runMx(args, { configDir: tempConfigDir(), env: { MX_HOMESERVER: url, MX_ACCESS_TOKEN: 'token', ...env } });
}

async function timed(run: () => Promise<MxResult>): Promise<MxResult & { ms: number }> {
  const started = Date.now();
  const r = await run();
  return { ...r, ms: Date.now() - started };
}

/** The error mx printed: one line on stderr, a JSON object (mx's output is JSON when piped). */
function errorLine(r: MxResult): { message: string; exit_code: number } {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return JSON.parse(lines[0]!).error;
}

describe('--max-time: a command that cannot hang', () => {
  let silent: string;
  let trickle: string;
  let slow: string;
  beforeAll(async () => {
    slow = `http://127.0.0.1:${await listen(http.createServer((_req, res) => {
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"user_id":"@a:hs.test"}'), 1_000);
    }))}`;
    silent = `http://127.0.0.1:${await listen(net.createServer(() => {}))}`;
    trickle = `http://127.0.0.1:${await listen(http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"user_id":"@a:hs.test"');
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    }))}`;
  });

  it('a server that accepts and never answers: exit 7 at --max-time, retries included, with one line', async () => {
    const r = await timed(() => mxAt(silent, ['whoami', '--max-time', '1.5']));
    expect(r.code, r.stderr).toBe(7);
    // The answer timeout alone (30 s per attempt, then retries) would take minutes.
    expect(r.ms).toBeLessThan(10_000);
    expect(r.ms).toBeGreaterThanOrEqual(1_500);
    const error = errorLine(r);
    expect(error.message).toMatch(new RegExp(`^whoami: no answer from ${silent} within --max-time \\(1.5 s\\)$`));
    expect(error.exit_code).toBe(7);
  });

  it('MX_MAX_TIME and the config\'s max_time set it too; the flag wins over both, 0 lifts it', async () => {
    const viaEnv = await mxAt(silent, ['whoami'], { MX_MAX_TIME: '1' });
    expect(viaEnv.code).toBe(7);
    expect(errorLine(viaEnv).message).toContain('within MX_MAX_TIME (1 s)');

    const configDir = tempConfigDir();
    writeFileSync(path.join(configDir, 'config.json'), JSON.stringify({ max_time: 1 }));
    // --config: MX_ACCESS_TOKEN + MX_HOMESERVER otherwise read no config at all.
    const viaConfig = await runMx(['whoami', '--config', path.join(configDir, 'config.json')], { configDir, env: { MX_HOMESERVER: silent, MX_ACCESS_TOKEN: 'token' } });
    expect(viaConfig.code).toBe(7);
    expect(errorLine(viaConfig).message).toContain('within config "max_time" (1 s)');

    const flagWins = await mxAt(silent, ['whoami', '--max-time', '0.5'], { MX_MAX_TIME: '100' });
    expect(errorLine(flagWins).message).toContain('within --max-time (0.5 s)');

    // 0 lifts a limit: the config's 0.5 s would cut an answer that takes 1 s.
    writeFileSync(path.join(configDir, 'config.json'), JSON.stringify({ max_time: 0.5 }));
    const slowArgs = ['whoami', '--config', path.join(configDir, 'config.json')];
    const cut = await runMx(slowArgs, { configDir, env: { MX_HOMESERVER: slow, MX_ACCESS_TOKEN: 'token' } });
    expect(cut.code).toBe(7);
    const lifted = await runMx(slowArgs, { configDir, env: { MX_HOMESERVER: slow, MX_ACCESS_TOKEN: 'token', MX_MAX_TIME: '0' } });
    expect(lifted.code, lifted.stderr).toBe(0);
  });

  it('an answer that trickles in forever is cut at --max-time', async () => {
    const r = await timed(() => mxAt(trickle, ['whoami', '--max-time', '1']));
    expect(r.code, r.stderr).toBe(7);
    expect(r.ms).toBeLessThan(10_000);
    expect(errorLine(r).message).toContain(`no answer from ${trickle} within --max-time (1 s)`);
  });

  it('bad values are usage errors (exit 2) before anything is sent', async () => {
    for (const [args, env, message] of [
      [['--max-time', '-1'], {}, /--max-time must be a number of seconds/],
      [['--max-time', 'soon'], {}, /max-time/],
      [[], { MX_MAX_TIME: 'soon' }, /MX_MAX_TIME must be a number of seconds, not "soon"/],
      [['--connect-timeout', '-5'], {}, /--connect-timeout must be a number of seconds/],
    ] as const) {
      const r = await mxAt(silent, ['whoami', ...args], env);
      expect(r.code, r.stderr).toBe(2);
      expect(errorLine(r).message).toMatch(message);
    }
  });
});

describe('connect timeout', () => {
  let python: ChildProcess;
  let url: string;
  beforeAll(async () => {
    // A listener whose accept queue is full and which never accepts: the kernel drops new
    // connection attempts, so a connect hangs, as with a black-holed address.
    python = spawn('python3', ['-c', `
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.3)
print(port, flush=True)
time.sleep(600)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push({ close: () => python.kill() });
    const port = await new Promise<string>((resolve) => python.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    url = `http://127.0.0.1:${port}`;
  });

  it('a connection that does not open ends at --connect-timeout (exit 7), separate from the answer timeout', async () => {
    const r = await timed(() => mxAt(url, ['whoami', '--connect-timeout', '1', '--retries', '0']));
    expect(r.code, r.stderr).toBe(7);
    expect(r.ms).toBeLessThan(8_000);
    expect(errorLine(r).message).toBe(`whoami: cannot reach ${url}: the connection did not open in time (connect timeout; --connect-timeout SECONDS)`);
  });
});

describe('bounded answers', () => {
  let sentMiB = 0;
  let url: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${await listen(http.createServer((_req, res) => {
      // 200 MiB of JSON whitespace, without a Content-Length: mx must stop reading on its own.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      sentMiB = 0;
      const more = () => {
        while (sentMiB < 200) {
          sentMiB++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('{}');
      };
      more();
    }))}`;
  });

  it('a JSON answer over 64 MiB is an error (exit 1), read no further, not retried', async () => {
    const r = await mxAt(url, ['whoami']);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLine(r).message).toBe(`whoami: ${url} sent an answer larger than 64 MiB, mx's limit`);
    expect(sentMiB).toBeLessThan(200);
  });
});

describe('TLS: private CAs, and errors that say why', () => {
  let dir: string;
  const urls: Record<string, string> = {};
  let plainRequests = 0;

  beforeAll(async () => {
    dir = tempConfigDir();
    makeCertificates(dir);
    const key = readFileSync(path.join(dir, 'leaf.key'));
    for (const name of ['leaf', 'expired', 'other-host', 'self-signed']) {
      const server = https.createServer({ key, cert: readFileSync(path.join(dir, `${name}.pem`)) }, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"user_id":"@a:localhost","device_id":"D"}');
      });
      urls[name] = `https://localhost:${await listen(server)}`;
    }
    // A plain HTTP server: a client that fell back to http:// would be answered, and counted.
    urls.plain = `https://localhost:${await listen(http.createServer((_req, res) => {
      plainRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"user_id":"@a:localhost","device_id":"D"}');
    }))}`;
  });

  const cacert = () => path.join(dir, 'ca.pem');

  it('a server with a private CA\'s certificate: refused without --cacert, trusted with it, MX_CACERT or the config', async () => {
    const without = await mxAt(urls.leaf!, ['whoami']);
    expect(without.code).toBe(1);
    expect(errorLine(without).message).toMatch(/its TLS certificate .*CA this machine does not trust|cannot be checked against a CA this machine trusts/);
    expect(errorLine(without).message).toContain('--cacert FILE');

    const withFlag = await mxAt(urls.leaf!, ['whoami', '--cacert', cacert()]);
    expect(withFlag.code, withFlag.stderr).toBe(0);
    expect(JSON.parse(withFlag.stdout)).toMatchObject({ user_id: '@a:localhost' });

    expect((await mxAt(urls.leaf!, ['whoami'], { MX_CACERT: cacert() })).code).toBe(0);

    const configDir = tempConfigDir();
    writeFileSync(path.join(configDir, 'config.json'), JSON.stringify({ cacert: path.relative(configDir, cacert()) }));
    const viaConfig = await runMx(['whoami', '--config', path.join(configDir, 'config.json')], { configDir, env: { MX_HOMESERVER: urls.leaf!, MX_ACCESS_TOKEN: 'token' } });
    expect(viaConfig.code, viaConfig.stderr).toBe(0);
  });

  it('names the cause: expired, another host, self-signed; exit 1, one line, not retried', async () => {
    const cases = [
      ['expired', /its TLS certificate has expired$/],
      ['other-host', /its TLS certificate is for another host name/],
      ['self-signed', /its TLS certificate is self-signed/],
    ] as const;
    for (const [name, message] of cases) {
      const r = await timed(() => mxAt(urls[name]!, ['whoami', '--cacert', cacert()]));
      expect(r.code, r.stderr).toBe(1);
      expect(errorLine(r).message).toMatch(message);
      // Retries would wait 250 ms + 500 ms + 1 s first.
      expect(r.ms).toBeLessThan(1_500);
    }
  });

  it('no way around verification: NODE_TLS_REJECT_UNAUTHORIZED=0 changes nothing; never a fall back to http', async () => {
    const r = await mxAt(urls['self-signed']!, ['whoami'], { NODE_TLS_REJECT_UNAUTHORIZED: '0' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/self-signed/);
    expect(r.stdout).toBe('');

    const plain = await mxAt(urls.plain!, ['whoami']);
    expect(plain.code).toBe(1);
    expect(errorLine(plain).message).toMatch(/the TLS handshake failed: is it a plain http:\/\/ server\? \(mx never falls back to http\)/);
    // A bare host name means https:// too.
    const bare = await mxAt(urls.plain!.replace('https://', ''), ['whoami']);
    expect(bare.code).toBe(1);
    expect(plainRequests).toBe(0);
  });

  it('a --cacert that is missing or not a certificate is a usage error (exit 2)', async () => {
    const missing = await mxAt(urls.leaf!, ['whoami', '--cacert', path.join(dir, 'nope.pem')]);
    expect(missing.code).toBe(2);
    expect(errorLine(missing).message).toBe(`--cacert ${path.join(dir, 'nope.pem')}: cannot read it (no such file)`);
    const key = await mxAt(urls.leaf!, ['whoami'], { MX_CACERT: path.join(dir, 'leaf.key') });
    expect(key.code).toBe(2);
    expect(errorLine(key).message).toMatch(/^MX_CACERT .*leaf\.key: no PEM certificate in it/);
  });
});

describe('tail: --max-time bounds one long poll\'s silence, not the stream', () => {
  let holding = false;
  let url: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${await listen(http.createServer((req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const { pathname, searchParams } = new URL(req.url!, 'http://x');
      if (pathname.endsWith('/account/whoami')) return json(200, { user_id: '@a:hs.test', device_id: 'D' });
      if (!pathname.endsWith('/sync')) return json(404, { errcode: 'M_UNRECOGNIZED', error: 'not here' });
      // A well-behaved server answers a long poll when its timeout is up; a black hole never does.
      if (!holding) setTimeout(() => json(200, { next_batch: `s${Date.now()}` }), Number(searchParams.get('timeout') ?? 0));
    }))}`;
  });

  it('polls answered at their timeout: the tail keeps running past --max-time', async () => {
    holding = false;
    const tail = startMx(['tail', '--timeout', '300', '--max-time', '0.5', '--from', 'now'], { configDir: tempConfigDir(), env: { MX_HOMESERVER: url, MX_ACCESS_TOKEN: 'token' } });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(tail.child.exitCode).toBeNull();
    tail.child.kill('SIGTERM');
    const r = await tail.done;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).not.toMatch(/retrying|max-time/);
  });

  it('a poll silent past its timeout plus --max-time fails like a lost connection (--max-retries 0: exit 7)', async () => {
    holding = true;
    const r = await timed(() => mxAt(url, ['tail', '--timeout', '300', '--max-time', '1', '--max-retries', '0', '--from', 'now']));
    expect(r.code, r.stderr).toBe(7);
    expect(r.ms).toBeLessThan(10_000);
    expect(errorLine(r).message).toMatch(new RegExp(`sync: ${url} did not answer in full within 1(\\.3)? s`));
  });
});

/** A private CA and certificates from it (good, expired, for another host) plus a self-signed one. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=mx test CA', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost');
  writeFileSync(path.join(dir, 'localhost.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  writeFileSync(path.join(dir, 'other.ext'), 'subjectAltName=DNS:other.example\n');
  const sign = (out: string, ext: string, serial: string) =>
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '2', '-out', out, '-extfile', ext);
  sign('leaf.pem', 'localhost.ext', '2');
  sign('other-host.pem', 'other.ext', '3');
  // `openssl ca` is the one that takes dates in the past.
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '04\n');
  writeFileSync(path.join(dir, 'ca.cnf'), '[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n');
  openssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'leaf.csr', '-out', 'expired.pem',
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', 'localhost.ext', '-notext');
  openssl('req', '-x509', '-key', 'leaf.key', '-out', 'self-signed.pem', '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
}
