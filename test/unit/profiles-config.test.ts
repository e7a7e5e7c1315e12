import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleForChildProcess } from './bundle-module.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, LocalStateError, UsageError } from '../../src/errors.js';
import { loadConfig } from '../../src/profiles/config.js';

let root: string;
let configDir: string;
let cwd: string;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'mx-config-'));
  configDir = path.join(root, 'config');
  cwd = path.join(root, 'project');
  mkdirSync(configDir);
  mkdirSync(cwd);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const write = (file: string, content: string) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
};

/** Files that would leave a marker if anything ever executed them. */
function plantCodeFiles(dir: string): string {
  const marker = path.join(root, 'EXECUTED');
  const cjs = `require('fs').writeFileSync(${JSON.stringify(marker)}, __filename); module.exports = { output: 'text' };`;
  const esm = `import fs from 'node:fs'; fs.writeFileSync(${JSON.stringify(marker)}, import.meta.url); export default { output: 'text' };`;
  for (const name of ['.mxrc.js', '.mxrc.cjs', 'mx.config.js', 'mx.config.cjs', '.config/mxrc.js', '.config/config.js', 'config.js', 'config.cjs']) {
    write(path.join(dir, name), cjs);
  }
  for (const name of ['.mxrc.mjs', 'mx.config.mjs', '.config/config.mjs', 'config.mjs', 'mx.config.ts', '.mxrc.ts', 'config.ts']) {
    write(path.join(dir, name), esm);
  }
  return marker;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('loadConfig from the config folder', () => {
  it('returns an empty config when there is no file', async () => {
    expect(await loadConfig({ configDir, cwd })).toEqual({ config: {}, warnings: [] });
  });

  it('returns an empty config when the config folder does not exist', async () => {
    expect(await loadConfig({ configDir: path.join(root, 'nope'), cwd })).toEqual({ config: {}, warnings: [] });
  });

  it('reads config.json', async () => {
    const file = write(path.join(configDir, 'config.json'), '{"profile": "work", "homeserver": "https://hs.example", "output": "json"}');
    expect(await loadConfig({ configDir, cwd })).toEqual({
      config: { profile: 'work', homeserver: 'https://hs.example', output: 'json' },
      filepath: file,
      warnings: [],
    });
  });

  it.each(['config.yaml', 'config.yml'])('reads %s', async (name) => {
    const file = write(path.join(configDir, name), '# defaults\nprofile: work\noutput: table\n');
    expect(await loadConfig({ configDir, cwd })).toEqual({ config: { profile: 'work', output: 'table' }, filepath: file, warnings: [] });
  });

  it('prefers config.json over config.yaml, and says it ignored the other', async () => {
    const json = write(path.join(configDir, 'config.json'), '{"output": "json"}');
    const yaml = write(path.join(configDir, 'config.yaml'), 'output: text\n');
    const result = await loadConfig({ configDir, cwd });
    expect(result.config).toEqual({ output: 'json' });
    expect(result.filepath).toBe(json);
    expect(result.warnings).toEqual([expect.stringContaining(yaml)]);
  });

  it('treats an empty file, or one with only comments, as empty settings', async () => {
    write(path.join(configDir, 'config.yaml'), '# nothing yet\n');
    expect((await loadConfig({ configDir, cwd })).config).toEqual({});
    rmSync(path.join(configDir, 'config.yaml'));
    write(path.join(configDir, 'config.json'), '  \n');
    expect((await loadConfig({ configDir, cwd })).config).toEqual({});
  });

  it('ignores unknown keys with a warning', async () => {
    const file = write(path.join(configDir, 'config.yaml'), 'output: text\ncolour: always\n$import: other.yaml\n');
    const result = await loadConfig({ configDir, cwd });
    expect(result.config).toEqual({ output: 'text' });
    // cosmiconfig's $import is not followed: to mx it is just another unknown key.
    expect(result.warnings).toEqual([
      `Ignoring the unknown setting "colour" in the config file ${file}.`,
      `Ignoring the unknown setting "$import" in the config file ${file}.`,
    ]);
  });

  it('does not look in the working directory or its parents', async () => {
    write(path.join(cwd, '.mxrc.json'), '{"profile": "from-project"}');
    write(path.join(cwd, '.mxrc'), 'profile: from-project\n');
    write(path.join(cwd, 'package.json'), '{"mx": {"profile": "from-project"}}');
    write(path.join(root, '.mxrc.yaml'), 'profile: from-parent\n');
    expect(await loadConfig({ configDir, cwd })).toEqual({ config: {}, warnings: [] });
  });
});

describe('loadConfig with --config', () => {
  it('reads exactly that file, relative to cwd, instead of the config folder', async () => {
    write(path.join(configDir, 'config.json'), '{"profile": "ignored"}');
    const file = write(path.join(cwd, 'ci', 'mx.yml'), 'profile: ci\n');
    expect(await loadConfig({ explicitPath: 'ci/mx.yml', configDir, cwd })).toEqual({
      config: { profile: 'ci' },
      filepath: file,
      warnings: [],
    });
  });

  it('reads a file without extension as YAML', async () => {
    write(path.join(cwd, '.mxrc'), 'output: json\n');
    expect((await loadConfig({ explicitPath: '.mxrc', configDir, cwd })).config).toEqual({ output: 'json' });
  });

  it('reads the "mx" key of a package.json', async () => {
    write(path.join(cwd, 'package.json'), '{"name": "x", "mx": {"profile": "pkg"}}');
    expect(await loadConfig({ explicitPath: 'package.json', configDir, cwd })).toMatchObject({ config: { profile: 'pkg' }, warnings: [] });
  });

  it('reports a missing file as a usage error', async () => {
    const err = await failure(loadConfig({ explicitPath: 'nope.json', configDir, cwd }));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain(path.join(cwd, 'nope.json'));
    expect(err.message).toMatch(/does not exist/);
  });

  it('reports a folder as a usage error', async () => {
    mkdirSync(path.join(cwd, 'dir.yaml'));
    expect(await failure(loadConfig({ explicitPath: 'dir.yaml', configDir, cwd }))).toBeInstanceOf(UsageError);
  });

  it.each(['evil.js', 'evil.cjs', 'evil.mjs', 'evil.ts', 'settings.toml', 'x.txt'])(
    'refuses %s as a usage error without running it',
    async (name) => {
      const marker = path.join(root, 'EXECUTED');
      write(path.join(cwd, name), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = {};`);
      const err = await failure(loadConfig({ explicitPath: name, configDir, cwd }));
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(ExitCode.usage);
      expect(err.message).toMatch(/only JSON \(\.json\) and YAML/);
      expect(existsSync(marker)).toBe(false);
    },
  );
});

describe('bad config files', () => {
  const cases: [string, string, RegExp][] = [
    ['config.json', '{"output": "xml"}', /"output" must be one of json, table, text, not "xml"/],
    ['config.json', '{"homeserver": 5}', /"homeserver" must be/],
    ['config.yaml', 'homeserver: ""\n', /"homeserver" must be/],
    ['config.yaml', 'profile: 5\n', /"profile" must be a profile name/],
    ['config.yaml', 'profile: ../etc\n', /"profile" must be a profile name/],
    ['config.yaml', '- a\n- b\n', /must hold a mapping/],
    ['config.json', '"text"', /must hold a mapping/],
    ['config.json', '{"output": "json",}', /not valid JSON \(.*line 1, column 19/],
    ['config.yaml', 'output: [json\n', /not valid YAML \(.*\(2:1\)\)/],
    ['config.yaml', 'output: json\noutput: text\n', /not valid YAML \(duplicated mapping key/],
    ['config.yaml', 'f: !!js/function "function () {}"\n', /not valid YAML \(unknown tag/],
  ];
  it.each(cases)('%s holding %j is a LocalStateError naming the file', async (name, content, message) => {
    const file = write(path.join(configDir, name), content);
    const err = await failure(loadConfig({ configDir, cwd }));
    expect(err).toBeInstanceOf(LocalStateError);
    expect((err as LocalStateError).exitCode).toBe(ExitCode.localState);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  });

  it('reports a bad explicit file as a LocalStateError too', async () => {
    write(path.join(cwd, 'mx.json'), '{"output": "xml"}');
    expect(await failure(loadConfig({ explicitPath: 'mx.json', configDir, cwd }))).toBeInstanceOf(LocalStateError);
  });
});

describe('hostile config files', () => {
  /** Ten levels of nine aliases each: 9^10 (3.5 billion) strings once expanded, in 11 lines. */
  const laughs = (setting: string) => {
    const names = 'abcdefghij';
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]`);
    return `${lines.join('\n')}\n${setting}: *j\n`;
  };
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const cases: [string, string, string, RegExp][] = [
    ['aliases that expand exponentially, for "profile"', 'config.yaml', laughs('profile'), /holds more than 1000 values \(YAML aliases that expand\?\)/],
    ['aliases that expand exponentially, for "output"', 'config.yaml', laughs('output'), /holds more than 1000 values/],
    ['aliases that expand exponentially, for "max_time"', 'config.yaml', laughs('max_time'), /holds more than 1000 values/],
    ['aliases that expand exponentially, for an unknown key', 'config.yaml', laughs('colour'), /holds more than 1000 values/],
    ['an alias that refers to itself', 'config.yaml', 'output: &a [*a]\n', /holds more than 1000 values/],
    ['a mapping that refers to itself', 'config.yaml', 'output: &a {b: *a}\n', /holds more than 1000 values/],
    ['YAML nested deep', 'config.yaml', `output: ${deep(100_000)}\n`, /not valid YAML \(nesting exceeded/],
    ['a list nested 100,000 deep', 'config.json', deep(100_000), /holds more than 1000 values/],
    ['a setting nested 100,000 deep', 'config.json', `{"output": ${deep(100_000)}}`, /holds more than 1000 values/],
    ['mappings nested 100,000 deep', 'config.json', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`, /holds more than 1000 values/],
    ['a huge file', 'config.json', `{"output": "json", "x": "${'x'.repeat(2 * 1024 * 1024)}"}`, /it is 2 MiB, and a config file holds a handful of settings \(mx reads up to 1 MiB\)/],
    ['a huge value', 'config.json', `{"output": "${'x'.repeat(500_000)}"}`, /"output" must be one of json, table, text, not "x{80}\.\.\. \(500000 characters\)"/],
    ['a mapping as a value', 'config.json', '{"max_time": {"a": [1, 2, 3]}}', /"max_time" must be a number of seconds \(0: no limit\), not a mapping/],
    ['a list as a value', 'config.yaml', 'output: [json, text]\n', /"output" must be one of json, table, text, not a list/],
    ['a multi-line value', 'config.json', '{"output": "js\\r\\non"}', /not "js\\r\\non"/],
  ];
  it.each(cases)('(%s) is a LocalStateError with a short one-line message, at once', async (_what, name, content, message) => {
    const file = write(path.join(configDir, name), content);
    const err = await failure(loadConfig({ configDir, cwd }));
    expect(err).toBeInstanceOf(LocalStateError);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeLessThan(400);
  });

  it('allows an alias that expands to a few values', async () => {
    write(path.join(configDir, 'config.yaml'), 'default_output: &out text\noutput: *out\n');
    expect((await loadConfig({ configDir, cwd })).config).toEqual({ output: 'text' });
  });

  it('warns about an unknown key on one short line', async () => {
    write(path.join(configDir, 'config.json'), `{"a\\nb${'c'.repeat(10_000)}": 1}`);
    const [warning] = (await loadConfig({ configDir, cwd })).warnings;
    expect(warning).toMatch(/^Ignoring the unknown setting "a\\nbc{77}\.\.\. \(10003 characters\)" in the config file /);
  });
});

// In a fresh process, so that the module cache tells what was imported, and process.cwd() is a
// folder full of config-shaped code (cosmiconfig's explorer would search process.cwd()).
describe('in a separate process', () => {
  let bundleUrl: string;
  let cleanup: () => void;

  beforeAll(async () => {
    ({ url: bundleUrl, cleanup } = await bundleForChildProcess('src/profiles/config.ts'));
  });
  afterAll(() => cleanup());

  function load(explicitPath?: string): { config: unknown; cosmiconfigLoaded: boolean } {
    const script = `
      import { createRequire } from 'node:module';
      const { loadConfig } = await import(process.env.BUNDLE);
      const explicitPath = process.env.EXPLICIT || undefined;
      const { config } = await loadConfig({ explicitPath, configDir: process.env.CONFIG_DIR, cwd: process.cwd() });
      // cosmiconfig is CommonJS: once imported, it is in the require cache.
      const cache = createRequire(import.meta.url).cache;
      const cosmiconfigLoaded = Object.keys(cache).some((k) => k.includes('/node_modules/cosmiconfig/'));
      console.log(JSON.stringify({ config, cosmiconfigLoaded }));`;
    // spawnSync returns once the process has exited, so anything loadConfig started without
    // waiting for it (an import, a file read) has run by the time the tests look for its marker.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd,
      env: { ...process.env, BUNDLE: bundleUrl, CONFIG_DIR: configDir, EXPLICIT: explicitPath ?? '' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { config: unknown; cosmiconfigLoaded: boolean };
  }

  it('never runs a JS/TS config file in the working directory or the config folder', () => {
    const marker = plantCodeFiles(cwd);
    plantCodeFiles(configDir);
    write(path.join(configDir, 'config.yaml'), 'output: json\n'); // so the YAML path (cosmiconfig) is taken
    expect(load()).toEqual({ config: { output: 'json' }, cosmiconfigLoaded: true });
    write(path.join(cwd, 'settings.yaml'), 'output: table\n');
    expect(load('settings.yaml').config).toEqual({ output: 'table' });
    expect(existsSync(marker)).toBe(false);
  });

  it('does not import cosmiconfig when there is no config file, or a JSON one', () => {
    expect(load()).toEqual({ config: {}, cosmiconfigLoaded: false });
    write(path.join(configDir, 'config.json'), '{"output": "text"}');
    expect(load()).toEqual({ config: { output: 'text' }, cosmiconfigLoaded: false });
  });
});
