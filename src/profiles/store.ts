import { statSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { LocalStateError } from '../errors.js';
import { acquireLock, type HeldLock } from '../file-lock.js';
import { errorMessage, lstatOwnFile, makePrivate, readOwnFile, replaceFileAtomically } from '../fs-util.js';
import { printable } from '../matrix/identifiers.js';
import { profileProblem, storeProblem } from './check.js';
import { isValidProfileName } from './select.js';
import { describeJsonError, isObject, jsonNestsDeeperThan, mebibytes } from './util.js';

export { DEFAULT_PROFILE_NAME, isValidProfileName, selectProfileName, validateProfileName } from './select.js';

export interface Profile {
  /** Base URL, no trailing slash. */
  homeserver: string;
  userId?: string;
  deviceId?: string;
  accessToken?: string;
  /** For an access token that expires: the single-use token that gets the next one (POST /refresh). */
  refreshToken?: string;
  /** When the access token expires, in ms since the epoch (by this machine's clock). */
  accessTokenExpiresAt?: number;
  isGuest?: boolean;
  /** Stream positions (sync next_batch tokens) saved by later commands, keyed by cursor name. */
  positions?: Record<string, string>;
  /** The key of this device's crypto store (base64 of 32 bytes; see crypto/store-ref.ts). */
  cryptoKey?: string;
}

/**
 * Where parseStore puts the profiles it finds damaged (a bad value, put there by hand or by
 * another program). One damaged profile does not lock the user out of the others: it is not in
 * `profiles`, so no command acts on it (profileIn says what is wrong with it, exit 8), and every
 * update writes it back as it was read, so that the store never loses or changes it silently.
 * Fixing it is the user's: by hand, or `mx profile rm NAME`.
 */
const DAMAGED = Symbol('damaged profiles');

interface DamagedProfile {
  /** As the file holds it. */
  stored: unknown;
  /** Names the profile, the file and the field; never a value that may be a secret. */
  message: string;
}

export interface StoreData {
  version: 1;
  defaultProfile?: string;
  profiles: Record<string, Profile>;
  [DAMAGED]?: Map<string, DamagedProfile>;
}

export interface ProfileStoreOptions {
  /**
   * A lock not refreshed for this long is taken to belong to a dead process (kill -9, power
   * loss) and is taken over. Minimum 2000 (proper-lockfile's floor).
   */
  staleMs?: number;
  /** Give up waiting for the lock after this long. Keep it above staleMs. */
  lockTimeoutMs?: number;
  /** Told once when a wait for the lock has lasted a second (a lock left by a killed process). */
  onLockWait?: (message: string) => void;
}

const DEFAULT_STALE_MS = 10_000;
const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/**
 * A store is a few KiB (a profile is well under one): a file over this size, or nested deeper
 * than this, is not one mx wrote, and is refused before it is parsed, so that it costs neither
 * time nor memory (nor a stack overflow when written back).
 */
const MAX_STORE_BYTES = 8 * 1024 * 1024;
const MAX_STORE_DEPTH = 32;

function emptyStore(): StoreData {
  return { version: 1, profiles: {} };
}

/**
 * All profiles live in one JSON file, so that a login, a saved sync position and a default
 * change are each a single atomic replace of that file. Readers take no lock (they see the
 * old or the new file, never a mix); writers serialize through an inter-process lock, since
 * scripts run many mx processes at once.
 *
 * Unknown fields in the file (written by a newer mx) are kept: `update` mutates the parsed
 * object itself, not a copy of the fields this version knows.
 */
export class ProfileStore {
  readonly storeFile: string;
  private readonly staleMs: number;
  private readonly lockTimeoutMs: number;
  private readonly onLockWait: ((message: string) => void) | undefined;

  constructor(storeFile: string, options: ProfileStoreOptions = {}) {
    this.storeFile = path.resolve(storeFile);
    this.staleMs = Math.max(options.staleMs ?? DEFAULT_STALE_MS, 2000);
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.onLockWait = options.onLockWait;
  }

  /** The current contents; a missing file (or folder) is an empty store. Takes no lock. */
  async read(): Promise<StoreData> {
    const text = await this.readText();
    return text === undefined ? emptyStore() : parseStore(text, this.storeFile);
  }

  /**
   * Read-modify-write under the lock: `fn` gets the freshly read data, mutates it in place and
   * may return a value. If `fn` throws, nothing is written. Do not call `update` from inside
   * `fn` (the inner call would wait for the outer one until the lock times out).
   */
  async update<T>(fn: (data: StoreData) => T | Promise<T>): Promise<T> {
    await this.ensureDir();
    const lock = await this.lock();
    try {
      const before = await this.readText();
      const data = before === undefined ? emptyStore() : parseStore(before, this.storeFile);
      const result = await fn(data);
      const problem = writtenProblem(data);
      if (problem) throw new Error(`Bug: refusing to write an invalid profile store: ${problem}`);
      const after = storeText(data);
      if (after !== before) {
        lock.assertHeld();
        await this.writeAtomically(after);
      }
      return result;
    } finally {
      await lock.release();
    }
  }

  /**
   * Fails (exit 8, the message ending with `notDone`) unless an update could be saved now: takes
   * the lock and creates and removes a file beside the store, changing nothing. For a command
   * about to change something on the server that only the saved profile remembers: a logout
   * must not leave the profile holding a dead token, nor a login leave a device on the server
   * that no profile knows.
   */
  async assertWritable(notDone: string): Promise<void> {
    try {
      await this.ensureDir();
      const lock = await this.lock();
      try {
        const probe = `${this.storeFile}.${process.pid}.probe`;
        await (await fsp.open(probe, 'w', 0o600)).close();
        await fsp.rm(probe);
      } finally {
        await lock.release();
      }
    } catch (err) {
      const why = err instanceof LocalStateError ? err.message : `Cannot write the profile store ${this.storeFile}: ${errorMessage(err)}`;
      throw new LocalStateError(`${why}; ${notDone}`, { cause: err });
    }
  }

  /**
   * What, if anything, lets other users near the tokens: a store file with group or other
   * permission bits is tightened to 0600 at once (it is mx's own file) and reported; a folder
   * with such bits is only reported, with the command to fix it, because it may be a folder the
   * user chose (MX_CONFIG_DIR) and shares with other things. Undefined when all is private.
   * A link (or anything but a file) in the store file's place is a LocalStateError: mx would
   * read, chmod and replace some other file through it.
   */
  exposure(): string | undefined {
    const problems: string[] = [];
    const dir = path.dirname(this.storeFile);
    const dirMode = modeOf(dir);
    if (dirMode !== undefined && dirMode & 0o077) {
      problems.push(`the folder ${dir} holds access tokens but other users may open it (mode ${octal(dirMode)}): run chmod 700 ${dir}`);
    }
    const fileMode = lstatOwnFile(this.storeFile)?.mode;
    if (fileMode !== undefined && fileMode & 0o077) {
      try {
        makePrivate(this.storeFile, 'file');
        problems.push(`the profile store ${this.storeFile} was readable by other users (mode ${octal(fileMode)}); mx set it to 0600`);
      } catch (err) {
        problems.push(`the profile store ${this.storeFile} is readable by other users (mode ${octal(fileMode)}) and mx cannot change that (${errorMessage(err)})`);
      }
    }
    return problems.length ? problems.join('; ') : undefined;
  }

  private async readText(): Promise<string | undefined> {
    // A store far larger than mx writes one is not read at all.
    const size = lstatOwnFile(this.storeFile)?.size;
    if (size !== undefined && size > MAX_STORE_BYTES) {
      throw corrupt(this.storeFile, `it is ${mebibytes(size)}, far larger than mx writes one (it reads up to ${mebibytes(MAX_STORE_BYTES)})`);
    }
    // Synchronous: the file is small and local, and an asynchronous read is four thread-pool
    // round trips (open, stat, read, close), paid at every command's start-up.
    return readOwnFile(this.storeFile, 'the profile store')?.toString('utf8');
  }

  /**
   * Creates the folder 0700. An existing folder's mode is left alone: it may be one the user
   * chose (MX_CONFIG_DIR) and shares with other things; the file itself is always 0600.
   */
  private async ensureDir(): Promise<void> {
    const dir = path.dirname(this.storeFile);
    try {
      const created = await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      // mkdir's mode is filtered by the umask; set it exactly.
      if (created !== undefined) makePrivate(dir, 'folder');
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      throw new LocalStateError(`Cannot create the folder ${dir} for the profile store: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async writeAtomically(text: string): Promise<void> {
    try {
      await replaceFileAtomically(this.storeFile, text);
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      throw new LocalStateError(`Cannot write the profile store ${this.storeFile}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The store's inter-process lock (src/file-lock.ts), taken only by writers. */
  private lock(): Promise<HeldLock> {
    return acquireLock({
      what: `the profile store ${this.storeFile}`,
      file: this.storeFile,
      lockPath: `${this.storeFile}.lock`,
      staleMs: this.staleMs,
      timeoutMs: this.lockTimeoutMs,
      unsaved: 'nothing was written',
      onWait: this.onLockWait,
    });
  }

}

/** The permission bits of a folder, or undefined when it does not exist (yet). */
function modeOf(dir: string): number | undefined {
  try {
    return statSync(dir).mode & 0o777;
  } catch {
    return undefined;
  }
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

function parseStore(text: string, file: string): StoreData {
  if (jsonNestsDeeperThan(text, MAX_STORE_DEPTH)) throw corrupt(file, `it nests more than ${MAX_STORE_DEPTH} levels deep, far deeper than mx writes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, `it is not valid JSON (${describeJsonError(err, text)})`);
  }
  if (isObject(value) && typeof value.version === 'number' && value.version > 1) {
    throw new LocalStateError(
      `The profile store ${file} has format version ${value.version}, written by a newer mx; this one reads version 1. Upgrade mx.`,
    );
  }
  const problem = storeProblem(value);
  if (problem) throw corrupt(file, problem);
  const data = value as unknown as StoreData;
  for (const [name, profile] of Object.entries(data.profiles)) {
    const problem = profileProblem(name, profile);
    if (!problem) continue;
    const message = `The profile "${printable(name)}" in ${file} is damaged: ${problem}. mx will not use or change it: ` +
      `fix it by hand${isValidProfileName(name) ? `, or remove it with mx profile rm ${name}` : ''}.`;
    (data[DAMAGED] ??= new Map()).set(name, { stored: profile, message });
    delete data.profiles[name];
  }
  return data;
}

function corrupt(file: string, what: string): LocalStateError {
  return new LocalStateError(
    `The profile store ${file} is corrupt: ${what}. mx will not change it. ` +
      `Fix it by hand, or move it aside (you will then need to log in again).`,
  );
}

/** What would make the store unreadable, as an update left it (a bug in mx if anything). */
function writtenProblem(data: StoreData): string | undefined {
  const problem = storeProblem(data);
  if (problem) return problem;
  for (const [name, profile] of Object.entries(data.profiles)) {
    const problem = profileProblem(name, profile);
    if (problem) return `profile "${printable(name)}": ${problem}`;
  }
  return undefined;
}

/** The file's text for `data`: the damaged profiles go back as they were read. */
function storeText(data: StoreData): string {
  const damaged = data[DAMAGED];
  const written = damaged
    ? { ...data, profiles: { ...Object.fromEntries([...damaged].map(([name, { stored }]) => [name, stored])), ...data.profiles } }
    : data;
  return `${JSON.stringify(written, null, 2)}\n`;
}

/**
 * The profile named `name` in `data`, or undefined when there is none. A damaged one is an
 * error (exit 8) saying what is wrong with it: every command that acts as a profile looks it
 * up here.
 */
export function profileIn(data: StoreData, name: string): Profile | undefined {
  const damaged = data[DAMAGED]?.get(name);
  if (damaged) throw new LocalStateError(damaged.message);
  return Object.hasOwn(data.profiles, name) ? data.profiles[name] : undefined;
}

/** What is wrong with each damaged profile (for `mx profile list`, which lists the others). */
export function damagedProfiles(data: StoreData): string[] {
  return [...(data[DAMAGED]?.values() ?? [])].map((damaged) => damaged.message);
}

/** Removes a damaged profile (`mx profile rm`); false when `name` is not one. */
export function removeDamagedProfile(data: StoreData, name: string): boolean {
  return data[DAMAGED]?.delete(name) ?? false;
}
