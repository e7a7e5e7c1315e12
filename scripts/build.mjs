// Bundles src/cli.ts into dist/ with esbuild: one ESM entry file, plus split chunks for the
// modules that only some commands load (ora, cli-table3, cosmiconfig). Bundling is what
// makes start-up fast: Node resolves and reads one file instead of hundreds.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

await rm(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { mx: 'src/cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // cosmiconfig can load TypeScript configs; mx never does (config files never run code),
  // so its lazy import of the compiler must not drag 3 MB of it into the bundle.
  external: ['typescript'],
  // Some dependencies are CommonJS and call require(): give the ESM bundle one.
  banner: { js: "import { createRequire as __mxCreateRequire } from 'node:module'; const require = __mxCreateRequire(import.meta.url);" },
});
