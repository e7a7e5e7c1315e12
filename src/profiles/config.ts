import { existsSync } from 'node:fs';
import path from 'node:path';
import { LocalStateError, UsageError } from '../errors.js';
import { printable } from '../matrix/identifiers.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../output/format.js';
import { isValidProfileName } from './select.js';
import { isShareKeysWith, SHARE_KEYS_WITH, type ShareKeysWith } from '../share-keys-with.js';
import { errorCode, errorMessage } from '../fs-util.js';
import { describeJsonError, describeValue, holdsMoreValuesThan, isObject, mebibytes, readSmallFile } from './util.js';


/** User defaults. Flags and MX_* variables override each of them. */
export interface MxConfig {
  profile?: string;
  homeserver?: string;
  output?: OutputFormat;
  /** Seconds; see network-settings.ts. */
  max_time?: number;
  connect_timeout?: number;
  /** A PEM file of CA certificates to trust; relative to the config file's folder. */
  cacert?: string;
  /** Whose devices get room keys in encrypted rooms; see share-keys-with.ts. */
  share_keys_with?: ShareKeysWith;
}

export interface LoadedConfig {
  config: MxConfig;
  /** The file the settings came from; undefined when there is none. */
  filepath?: string;
  /** Things worth telling the user on stderr (unknown keys, ignored files). */
  warnings: string[];
}

/** Looked for, in this order, in the config folder (see paths.ts). */
const CONFIG_FILE_NAMES = ['config.json', 'config.yaml', 'config.yml'] as const;

/**
 * A config holds a handful of settings. A file far larger, or a value that expands to far more
 * (YAML aliases: a few lines can stand for billions of values, or refer to themselves), is not
 * a config: it is refused before anything looks at its values, so that it costs neither time
 * nor memory. Aliases themselves are allowed (an anchor reused for two settings is harmless);
 * what they expand to is what is bounded, counted without expanding it.
 */
const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_CONFIG_VALUES = 1000;

/**
 * Where the config comes from, and why only there:
 *
 * - `--config PATH`: exactly that file.
 * - otherwise `<configDir>/config.{json,yaml,yml}`, the first that exists.
 *
 * No search from the working directory up (no project `.mxrc`): these settings pick the
 * account (`profile`) and the server (`homeserver`) mx talks to, and a repository you cloned
 * or a shared folder you `cd` into must not be able to redirect your credentials. Scripts and
 * CI that want per-project settings pass `--config` or set MX_CONFIG_DIR.
 *
 * JSON and YAML only: a config file never runs code. That is also why mx does not call
 * `cosmiconfig()` at all: creating an explorer (cosmiconfig 9) searches the *process* working
 * directory for a "meta config" (`.config/config.js`, ...) with cosmiconfig's default
 * loaders, which execute JavaScript, whatever `loaders`/`searchPlaces` are passed (and the
 * `loaders` passed are merged over the defaults, not instead of them). We use cosmiconfig
 * only for its YAML loader, imported when a YAML file is actually there; JSON goes through
 * JSON.parse, which is faster than cosmiconfig's loader and needs no import.
 */
export async function loadConfig(opts: {
  explicitPath?: string | undefined;
  configDir: string;
  cwd: string;
}): Promise<LoadedConfig> {
  const warnings: string[] = [];
  let filepath: string;
  let kind: 'json' | 'yaml';

  if (opts.explicitPath !== undefined) {
    filepath = path.resolve(opts.cwd, opts.explicitPath);
    // Decided on the name alone, before the file is opened.
    const ext = path.extname(filepath).toLowerCase();
    if (ext === '.json') kind = 'json';
    else if (ext === '.yaml' || ext === '.yml' || ext === '') kind = 'yaml';
    else {
      throw new UsageError(
        `Config file ${filepath} has the extension "${ext}": mx reads only JSON (.json) and YAML ` +
          `(.yaml, .yml, or no extension) config files, never code.`,
      );
    }
  } else {
    // A few stat calls, so that the common case (no config file) costs no parser import.
    const found = CONFIG_FILE_NAMES.map((name) => path.join(opts.configDir, name)).filter((p) => existsSync(p));
    if (found.length === 0) return { config: {}, warnings };
    filepath = found[0]!;
    kind = filepath.endsWith('.json') ? 'json' : 'yaml';
    if (found.length > 1) warnings.push(`Using the config file ${filepath}; ignoring ${found.slice(1).join(', ')}.`);
  }

  let read: ReturnType<typeof readSmallFile>;
  try {
    read = readSmallFile(filepath, MAX_CONFIG_BYTES);
  } catch (err) {
    if (opts.explicitPath !== undefined && errorCode(err) === 'ENOENT') {
      throw new UsageError(`Config file ${filepath} (from --config) does not exist.`);
    }
    if (opts.explicitPath !== undefined && errorCode(err) === 'EISDIR') {
      throw new UsageError(`Config file ${filepath} (from --config) is a folder, not a file.`);
    }
    throw new LocalStateError(`Cannot read the config file ${filepath}: ${errorMessage(err)}`, { cause: err });
  }
  if ('tooLarge' in read) {
    throw invalid(filepath, `it is ${mebibytes(read.tooLarge)}, and a config file holds a handful of settings (mx reads up to ${mebibytes(MAX_CONFIG_BYTES)})`);
  }

  let raw = await parse(read.text.replace(/^\uFEFF/, ''), kind, filepath);
  // As cosmiconfig does: in a package.json, mx's settings are under the "mx" key.
  if (path.basename(filepath) === 'package.json') raw = isObject(raw) ? raw.mx : undefined;
  if (holdsMoreValuesThan(raw, MAX_CONFIG_VALUES)) {
    const aliases = kind === 'yaml' ? ' (YAML aliases that expand?)' : '';
    throw invalid(filepath, `it holds more than ${MAX_CONFIG_VALUES} values${aliases}, and a config file holds a handful of settings`);
  }
  return { config: validate(raw, filepath, warnings), filepath, warnings };
}

async function parse(text: string, kind: 'json' | 'yaml', filepath: string): Promise<unknown> {
  if (text.trim() === '') return undefined; // an empty file is an empty config
  if (kind === 'json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw invalid(filepath, `it is not valid JSON (${describeJsonError(err, text)})`);
    }
  }
  const { defaultLoaders } = await import('cosmiconfig');
  try {
    return await defaultLoaders['.yaml'](filepath, text);
  } catch (err) {
    // "YAML Error in <file>:\n<reason> (line:col)\n\n<code frame>": keep the reason.
    const reason = errorMessage(err).split('\n').slice(1).find((line) => line.trim() !== '');
    throw invalid(filepath, `it is not valid YAML (${reason?.trim() ?? errorMessage(err)})`);
  }
}

function validate(raw: unknown, filepath: string, warnings: string[]): MxConfig {
  if (raw === undefined || raw === null) return {}; // empty, or only comments
  if (!isObject(raw)) throw invalid(filepath, 'it must hold a mapping of settings (profile, homeserver, output, max_time, connect_timeout, cacert, share_keys_with)');
  const config: MxConfig = {};
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case 'profile':
        if (typeof value !== 'string' || !isValidProfileName(value)) {
          throw invalid(filepath, `"profile" must be a profile name (1-64 letters, digits, '.', '_' or '-', not starting with '.')`);
        }
        config.profile = value;
        break;
      case 'homeserver':
        if (typeof value !== 'string' || value.trim() === '') {
          throw invalid(filepath, `"homeserver" must be a URL or server name, as a string`);
        }
        config.homeserver = value;
        break;
      case 'output':
        if (!(OUTPUT_FORMATS as readonly unknown[]).includes(value)) {
          throw invalid(filepath, `"output" must be one of ${OUTPUT_FORMATS.join(', ')}, not ${describeValue(value)}`);
        }
        config.output = value as OutputFormat;
        break;
      case 'max_time':
      case 'connect_timeout':
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw invalid(filepath, `"${key}" must be a number of seconds (0: no limit), not ${describeValue(value)}`);
        }
        config[key] = value;
        break;
      case 'cacert':
        if (typeof value !== 'string' || value.trim() === '') throw invalid(filepath, '"cacert" must be the path of a PEM file, as a string');
        config.cacert = value;
        break;
      case 'share_keys_with':
        if (!isShareKeysWith(value)) throw invalid(filepath, `"share_keys_with" must be ${SHARE_KEYS_WITH.join(' or ')}, not ${describeValue(value)}`);
        config.share_keys_with = value;
        break;
      default:
        warnings.push(`Ignoring the unknown setting "${printable(key)}" in the config file ${filepath}.`);
    }
  }
  return config;
}

function invalid(filepath: string, what: string): LocalStateError {
  return new LocalStateError(`The config file ${filepath} is invalid: ${what}. Fix it or move it aside.`);
}
