// scripts/provision-synapse.sh run as a normal user who lacks what a rootless tree needs: it must
// say exactly what to install or run, and build nothing. Runs only as root (CI does), which can
// become another user (util-linux setpriv) to try it; building a real rootless tree takes about
// a minute and a second account, and is checked by hand (README, Quickstart).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

describe.skipIf(!asRoot || !SETPRIV)('provisioning the Synapse tree as a normal user', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mx-provision-test-'));
  chmodSync(tmp, 0o777);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** The script as uid 65534, with only `tools` on PATH (links to the host's own), after `extraPath`. */
  function provisionAsNobody(tools: string[], extraPath: string[] = []) {
    const bin = path.join(tmp, `bin-${tools.length}`);
    mkdirSync(bin, { recursive: true });
    for (const tool of tools) {
      const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
      if (found && !existsSync(path.join(bin, tool))) symlinkSync(found, path.join(bin, tool));
    }
    const tree = path.join(tmp, 'home', 'tree');
    const r = spawnSync(SETPRIV!, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '/bin/bash', path.join(repoRoot, 'scripts', 'provision-synapse.sh'), tree], {
      env: { PATH: [...extraPath, bin].join(':'), HOME: path.join(tmp, 'home') },
      encoding: 'utf8',
    });
    return { code: r.status, stderr: r.stderr, built: existsSync(tree) || existsSync(`${tree}.building`) };
  }

  const BASICS = ['bash', 'id', 'grep', 'unshare', 'mkdir', 'dirname', 'flock', 'rm', 'true'];
  // Whether this kernel lets a normal user make a user namespace; if not, the script says so first.
  const userNamespaces = SETPRIV !== undefined && spawnSync(SETPRIV, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'unshare', '--map-root-user', 'true']).status === 0;
  const NO_NAMESPACES = /this kernel does not let normal users create user namespaces[\s\S]*run as root, or set MX_TEST_HOMESERVER=<url>/;

  it('without mmdebstrap and uidmap: names both packages and the apt-get line, builds nothing', () => {
    const r = provisionAsNobody(BASICS);
    expect(r.code).toBe(1);
    if (!userNamespaces) {
      expect(r.stderr).toMatch(NO_NAMESPACES);
    } else {
      expect(r.stderr).toContain('building the Synapse tree as a normal user needs: mmdebstrap uidmap');
      expect(r.stderr).toContain('install as root: apt-get install mmdebstrap uidmap');
    }
    expect(r.built).toBe(false);
  });

  it('with the tools but no subordinate IDs: says the usermod line for this user', () => {
    const fake = path.join(tmp, 'fake-tools');
    mkdirSync(fake, { recursive: true });
    // Stand-ins that are found on PATH; the script stops before running them.
    for (const tool of ['mmdebstrap', 'newuidmap']) symlinkSync('/bin/true', path.join(fake, tool));
    const r = provisionAsNobody(BASICS, [fake]);
    expect(r.code).toBe(1);
    if (!userNamespaces) {
      expect(r.stderr).toMatch(NO_NAMESPACES);
    } else {
      expect(r.stderr).toMatch(/needs subordinate IDs for \S+ in \/etc\/subuid and \/etc\/subgid/);
      expect(r.stderr).toMatch(/usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \S+/);
    }
    expect(r.built).toBe(false);
  });
});
