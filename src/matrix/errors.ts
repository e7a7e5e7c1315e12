import { ExitCode, MxError, type ExitCodeValue } from '../errors.js';

/** errcodes that mean "your credentials are wrong or gone", whatever the HTTP status. */
const AUTH_ERRCODES = new Set(['M_UNKNOWN_TOKEN', 'M_MISSING_TOKEN', 'M_USER_DEACTIVATED', 'M_USER_LOCKED']);
const CONFLICT_ERRCODES = new Set(['M_USER_IN_USE', 'M_ROOM_IN_USE', 'M_EXCLUSIVE']);
const NOT_FOUND_ERRCODES = new Set(['M_NOT_FOUND', 'M_UNRECOGNIZED']);
/** The server says the input itself is bad: the same family as mx's own usage errors. */
const BAD_INPUT_ERRCODES = new Set([
  'M_BAD_JSON',
  'M_NOT_JSON',
  'M_INVALID_PARAM',
  'M_MISSING_PARAM',
  'M_INVALID_USERNAME',
  'M_TOO_LARGE',
  'M_WEAK_PASSWORD',
  'M_BAD_ALIAS',
  'M_INVALID_ROOM_STATE',
  'M_UNSUPPORTED_ROOM_VERSION',
]);

/**
 * A rate limit: HTTP 429 (with any errcode, or no JSON at all: a proxy's own limit page), or the
 * spec's M_LIMIT_EXCEEDED. The one rule for the exit code (7), the retry decision and its count.
 */
function isRateLimitAnswer(status: number, errcode: string | undefined): boolean {
  return status === 429 || errcode === 'M_LIMIT_EXCEEDED';
}

export function isRateLimit(error: unknown): boolean {
  if (error instanceof MatrixError) return isRateLimitAnswer(error.status, error.errcode);
  return error instanceof UnexpectedResponseError && isRateLimitAnswer(Number(error.details.status), undefined);
}

function exitCodeFor(status: number, errcode: string | undefined): ExitCodeValue {
  if (errcode && AUTH_ERRCODES.has(errcode)) return ExitCode.auth;
  if (isRateLimitAnswer(status, errcode) || status >= 500) return ExitCode.temporary;
  if (errcode && CONFLICT_ERRCODES.has(errcode)) return ExitCode.conflict;
  if (errcode && NOT_FOUND_ERRCODES.has(errcode)) return ExitCode.notFound;
  if (errcode && BAD_INPUT_ERRCODES.has(errcode)) return ExitCode.usage;
  if (status === 401) return ExitCode.auth;
  if (status === 403) return ExitCode.forbidden;
  if (status === 404) return ExitCode.notFound;
  return ExitCode.failure;
}

/** A non-2xx answer from the homeserver, with the spec's standard error fields. */
export class MatrixError extends MxError {
  readonly status: number;
  readonly errcode: string | undefined;
  /** The whole JSON body: UIA answers (flows, session, completed) and other extras live here. */
  readonly body: Record<string, unknown>;
  readonly retryAfterMs: number | undefined;
  readonly softLogout: boolean;

  constructor(status: number, body: Record<string, unknown>, what: string, retryAfterMs?: number) {
    const errcode = typeof body.errcode === 'string' ? body.errcode : undefined;
    const serverMessage = typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    super(
      `${what}: ${serverMessage}${errcode ? ` (${errcode})` : ''}`,
      exitCodeFor(status, errcode),
      { status, ...(errcode ? { errcode } : {}) },
    );
    this.name = 'MatrixError';
    this.status = status;
    this.errcode = errcode;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
    this.softLogout = body.soft_logout === true;
  }
}

/** The homeserver answered, but not with the JSON the spec promises (a proxy page, garbage). */
export class UnexpectedResponseError extends MxError {
  constructor(
    message: string,
    status: number,
    /** A Retry-After header's wait, when the answer had one (a proxy's 429 page, say). */
    readonly retryAfterMs?: number,
  ) {
    super(message, isRateLimitAnswer(status, undefined) || status >= 500 ? ExitCode.temporary : ExitCode.failure, { status });
    this.name = 'UnexpectedResponseError';
  }
}

/** No answer at all: connection refused or reset, DNS failure, timeout. Worth retrying later. */
export class NetworkError extends MxError {
  constructor(message: string, cause: unknown) {
    super(message, ExitCode.temporary, {}, { cause });
    this.name = 'NetworkError';
  }
}
