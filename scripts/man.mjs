// Writes dist/mx.1, mx's man page, from the command definitions: src/reference/man.ts, bundled
// with esbuild (its packages left to node_modules) and run here, at build time only.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export async function writeManPage({ root, outfile, version }) {
  const entry = path.join(root, 'src', 'reference', 'man.ts');
  const { outputFiles } = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    target: 'node20.19',
    write: false,
    logLevel: 'warning',
    define: { 'import.meta.url': '__mxImportMetaUrl', __MX_VERSION__: JSON.stringify(version) },
  });
  const module = { exports: {} };
  const run = new Function('module', 'exports', 'require', '__filename', '__dirname', '__mxImportMetaUrl', outputFiles[0].text);
  run(module, module.exports, createRequire(entry), entry, path.dirname(entry), pathToFileURL(entry).href);
  // SOURCE_DATE_EPOCH, for a build that is to come out the same every time.
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  const date = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString().slice(0, 10);
  await writeFile(outfile, module.exports.manPage({ version, date }));
}
