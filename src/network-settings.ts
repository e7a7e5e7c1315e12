/**
 * The settings that bound mx's use of the network, each from its flag, else its MX_ variable,
 * else the config file: --max-time (the whole command), --connect-timeout (one TCP and TLS
 * connect) and --cacert (a private CA to trust besides Node's own list).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';
import { errorCode, errorMessage } from './fs-util.js';
import { printable } from './matrix/identifiers.js';
import type { MxConfig } from './profiles/config.js';
import { seconds } from './flag-numbers.js';

/** A connect that takes longer than this fails (about what browsers and curl allow). */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** The longest time mx accepts for a limit (setTimeout's own limit is ~24.8 days). */
const MAX_SECONDS = 1_000_000;

export interface NetworkFlags {
  maxTime?: number;
  connectTimeout?: number;
  cacert?: string;
}

export interface NetworkSettings {
  /** --max-time in ms, and where it was set; undefined: no limit. */
  maxTime?: { ms: number; source: string };
  connectTimeoutMs: number;
  /** The extra CA certificates (PEM) to trust, and the file they came from. */
  cacert?: { file: string; pem: string };
}

export async function networkSettings(
  flags: NetworkFlags,
  env: Record<string, string | undefined>,
  config: MxConfig,
  where: { cwd: string; configFile?: string },
): Promise<NetworkSettings> {
  const maxTime = secondsSetting(flags.maxTime, env, config, { flag: '--max-time', env: 'MX_MAX_TIME', config: 'max_time' });
  const connect = secondsSetting(flags.connectTimeout, env, config, { flag: '--connect-timeout', env: 'MX_CONNECT_TIMEOUT', config: 'connect_timeout' });
  const cacert = cacertFile(flags.cacert, env, config, where);
  return {
    // 0 means no limit (to lift a config file's limit for one run: MX_MAX_TIME=0).
    maxTime: maxTime?.ms ? maxTime : undefined,
    connectTimeoutMs: connect?.ms || DEFAULT_CONNECT_TIMEOUT_MS,
    cacert: cacert && { file: cacert.file, pem: await readCertificates(cacert.file, cacert.source) },
  };
}

/** A number of seconds from its flag, else its MX_ variable, else the config file. */
function secondsSetting(
  flag: number | undefined,
  env: Record<string, string | undefined>,
  config: MxConfig,
  names: { flag: string; env: string; config: 'max_time' | 'connect_timeout' },
): { ms: number; source: string } | undefined {
  return limit(flag, names.flag) ?? limit(envNumber(env, names.env), names.env) ?? limit(config[names.config], `config "${names.config}"`);
}

/** The --cacert file, else MX_CACERT's, else the config's (relative to the config file, not to where mx runs). */
function cacertFile(flag: string | undefined, env: Record<string, string | undefined>, config: MxConfig, where: { cwd: string; configFile?: string }) {
  if (flag !== undefined) return { file: path.resolve(where.cwd, flag), source: '--cacert' };
  if (env.MX_CACERT) return { file: path.resolve(where.cwd, env.MX_CACERT), source: 'MX_CACERT' };
  if (config.cacert === undefined) return undefined;
  return { file: path.resolve(where.configFile ? path.dirname(where.configFile) : where.cwd, config.cacert), source: 'config "cacert"' };
}

function envNumber(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (Number.isNaN(value)) throw new UsageError(`${name} must be a number of seconds, not "${printable(raw)}"`);
  return value;
}

function limit(value: number | undefined, source: string): { ms: number; source: string } | undefined {
  const ms = seconds(value, source, { min: 0, max: MAX_SECONDS, note: '0: no limit' });
  return ms === undefined ? undefined : { ms, source };
}

/** The PEM certificates in `file`: a usage error (exit 2) when it has none or cannot be read. */
async function readCertificates(file: string, source: string): Promise<string> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    const why = errorCode(error) === 'ENOENT' ? 'no such file' : errorCode(error) === 'EISDIR' ? 'it is a folder' : errorMessage(error);
    throw new UsageError(`${source} ${file}: cannot read it (${why})`);
  }
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(text)) {
    throw new UsageError(`${source} ${file}: no PEM certificate in it (expected "-----BEGIN CERTIFICATE-----" blocks)`);
  }
  return text;
}
