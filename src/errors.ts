/**
 * Exit codes are part of mx's interface: scripts branch on them. Keep this table,
 * EXIT_CODE_MEANINGS below and the README's "Exit codes" section in step.
 */
export const ExitCode = {
  ok: 0,
  /** The server refused for a reason not covered below, or answered something unexpected. */
  failure: 1,
  /** Bad flags, arguments or input; nothing was sent. */
  usage: 2,
  /** Bad credentials, or a missing, unknown or expired access token. */
  auth: 3,
  /** Authenticated but not allowed (M_FORBIDDEN on a resource). */
  forbidden: 4,
  /** The user, room, alias, profile or endpoint does not exist. */
  notFound: 5,
  /** Already exists: user ID taken, alias taken. */
  conflict: 6,
  /** Worth retrying later: network error, timeout, 5xx, rate limit still hit after retries. */
  temporary: 7,
  /** Local state is unusable: the profile store or config file is corrupt or unreadable. */
  localState: 8,
  /**
   * Encryption is not possible here: the room is encrypted and mx cannot encrypt for it (nothing
   * was sent), or the account's secret storage or key backup does not allow a recovery (nothing
   * was changed).
   */
  encryption: 9,
  /** A verification was cancelled (by the other side, by mx verify cancel, or for a message that broke the protocol): nothing verified. */
  verificationCancelled: 10,
  /** A verification's emoji did not match (the answer was no, --expect differed, or the other side said so): nothing verified. */
  verificationMismatch: 11,
  /** A verification ran out of time (a request unanswered, a step not taken in time): nothing verified. */
  verificationTimeout: 12,
  /** Interrupted by SIGINT (128 + 2, as shells report it). */
  interrupted: 130,
  /** Terminated by SIGTERM (128 + 15). */
  terminated: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * What each exit code means, in the words of the README's "Exit codes" table (a test keeps the
 * two equal); the man page's EXIT STATUS is made from it.
 */
export const EXIT_CODE_MEANINGS: Record<ExitCodeValue, string> = {
  [ExitCode.ok]: 'success',
  [ExitCode.failure]: 'the server refused for another reason, or answered something unexpected (an answer over mx\'s size limit or nested more than 512 levels deep, a TLS certificate that does not verify)',
  [ExitCode.usage]: 'usage: bad flags, arguments or input (from mx, or rejected by the server as invalid)',
  [ExitCode.auth]: 'auth: wrong password, missing, unknown or expired token, not logged in',
  [ExitCode.forbidden]: 'forbidden: logged in, but not allowed',
  [ExitCode.notFound]: 'not found: no such profile, user, room or endpoint',
  [ExitCode.conflict]: 'conflict: already exists (user ID taken, a file mx would not replace, a symbolic link where mx would write a file you named) or a profile in use by another user',
  [ExitCode.temporary]: 'temporary: network error, timeout, `--max-time` reached, 5xx, rate limit still hit after retries; try again later',
  [ExitCode.localState]: 'local state: the profile store, a crypto store or the config file is damaged, cannot be locked or cannot be written (a full disk, a read-only folder), or a symbolic link stands where mx keeps a file or folder of its own',
  [ExitCode.encryption]: 'encryption: mx cannot encrypt or recover here: the room is encrypted and this session has no crypto store (or the room uses another algorithm), or the room key cannot be shared as `--share-keys-with` says (this device not cross-signed, a member\'s identity changed), nothing was sent; or the account\'s secret storage or key backup does not allow it (none set up, replaced by another client), nothing was changed',
  [ExitCode.verificationCancelled]: 'verification cancelled: by the other side, by `mx verify cancel`, or for a message that broke the protocol (the code and reason are in the `cancelled` step); nothing was verified',
  [ExitCode.verificationMismatch]: 'verification mismatch: the emoji did not match (the answer was no, `--expect` named others, or the other side said so); cancelled with m.mismatched_sas, nothing was verified',
  [ExitCode.verificationTimeout]: 'verification timeout: no request came, a request was not answered, or a step was not taken in time (m.timeout); nothing was verified',
  [ExitCode.interrupted]: 'interrupted (SIGINT)',
  [ExitCode.terminated]: 'terminated (SIGTERM)',
};

/**
 * An error the user can act on: printed as one line (no stack trace) and mapped to an exit
 * code. Anything that is not an MxError is a bug and is reported as such.
 */
export class MxError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    /** Extra machine-readable fields for the JSON error object (errcode, status, ...). */
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MxError';
  }
}

export class UsageError extends MxError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = 'UsageError';
  }
}

export class LocalStateError extends MxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.localState, {}, options);
    this.name = 'LocalStateError';
  }
}

/**
 * The exit code of a command stopped by io.signal: 130 for SIGINT, 143 for SIGTERM, 0 for a
 * closed stdout (`mx tail | head -1`: the reader had enough; see cli.ts).
 */
export function exitCodeForAbort(reason: unknown): number {
  if (reason === 'EPIPE') return ExitCode.ok;
  return reason === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted;
}

/** Node's errors of file system calls, by the syscall that failed. */
const FILE_SYSCALLS = new Set([
  'open', 'close', 'read', 'write', 'writev', 'fsync', 'fdatasync', 'ftruncate', 'mkdir', 'mkdtemp', 'rmdir', 'rm', 'unlink',
  'rename', 'copyfile', 'link', 'symlink', 'readlink', 'stat', 'lstat', 'fstat', 'scandir', 'opendir', 'chmod', 'fchmod',
  'chown', 'fchown', 'utime', 'futime', 'access', 'realpath', 'writeFile', 'appendFile',
]);

const FILE_PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'an input/output error of the disk',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
};

/**
 * A file system call's failure that reached the top without a message of mx's own (a full disk
 * while writing some file, say): local state, exit code 8, named as what it is. Undefined for
 * anything else (a bug stays a bug).
 */
export function fileSystemFailure(error: unknown): LocalStateError | undefined {
  const { code, syscall, path } = (error ?? {}) as { code?: unknown; syscall?: unknown; path?: unknown };
  if (typeof code !== 'string' || typeof syscall !== 'string' || !FILE_SYSCALLS.has(syscall)) return undefined;
  const where = typeof path === 'string' ? ` ${path}` : '';
  return new LocalStateError(`Cannot ${syscall}${where}: ${FILE_PROBLEMS[code] ?? code} (${code})`, { cause: error });
}
