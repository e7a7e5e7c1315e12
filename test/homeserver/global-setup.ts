// Vitest global setup of the e2e project: one homeserver per test run, shared by all e2e
// files (which may run in parallel). MX_TEST_HOMESERVER=<url> uses a running server instead.
// If neither works, setup throws and the run fails: e2e tests are never silently skipped.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { getTestHomeserver } from './synapse.mjs';

export interface ProvidedHomeserver {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:41531 */
  url: string;
  /** The server name in user IDs (@alice:<serverName>). */
  serverName: string;
  /** For /_synapse/admin/v1/register; null for an external server unless MX_TEST_REGISTRATION_SHARED_SECRET is set. */
  registrationSharedSecret: string | null;
  /** True when the server came from MX_TEST_HOMESERVER. */
  external: boolean;
}

declare module 'vitest' {
  interface ProvidedContext {
    homeserver: ProvidedHomeserver;
    /** A temp dir for this run's config dirs and sandboxes; removed at teardown unless MX_TEST_KEEP_TMP is set. */
    e2eTmpDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // MX_TEST_KEEP_TMP=1 keeps the temp dirs and Synapse's data dir (with its log) for debugging.
  const keep = Boolean(process.env.MX_TEST_KEEP_TMP);
  const hs = await getTestHomeserver(process.env, { keepDataDir: keep });
  const where = hs.external ? 'MX_TEST_HOMESERVER' : `local Synapse (log: ${hs.synapse?.logFile})`;
  process.stderr.write(`e2e homeserver: ${hs.url} (${where})\n`);
  project.provide('homeserver', {
    url: hs.url,
    serverName: hs.serverName,
    registrationSharedSecret: hs.registrationSharedSecret,
    external: hs.external,
  });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mx-e2e-'));
  project.provide('e2eTmpDir', tmp);
  return async () => {
    await hs.stop();
    if (keep) process.stderr.write(`e2e temp files kept in ${tmp}; Synapse data in ${hs.synapse?.dataDir ?? '-'}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  };
}
