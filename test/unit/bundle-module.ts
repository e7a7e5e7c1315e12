import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Bundles one src/ module into an .mjs that plain `node` child processes can import, for
 * tests that need the real code in separate processes (locks, module-loading checks).
 * The bundle lives inside the repo so its package imports resolve to node_modules.
 */
export async function bundleForChildProcess(srcModule: string): Promise<{ url: string; cleanup: () => void }> {
  const cache = path.join(repoRoot, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(path.join(cache, 'mx-test-bundle-'));
  const outfile = path.join(dir, `${path.basename(srcModule, '.ts')}.mjs`);
  await build({
    entryPoints: [path.join(repoRoot, srcModule)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'silent',
  });
  return { url: pathToFileURL(outfile).href, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
