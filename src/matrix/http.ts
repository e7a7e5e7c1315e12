import type { Dispatcher } from 'undici';
import { ExitCode, MxError, UsageError } from '../errors.js';
import { DeadlineReached } from '../deadline.js';
import { VERSION } from '../version.js';
import { isRateLimit, MatrixError, NetworkError, UnexpectedResponseError } from './errors.js';

/**
 * The access token of a login that expires and can be refreshed (profiles/tokens.ts): the HTTP
 * layer sends what `current()` says, refreshes before a request when the token has expired, and
 * once more when the server answers that it has (a soft logout).
 */
export interface TokenSource {
  current(): string;
  /** The current token has expired by this machine's clock (or is about to). */
  expired(): boolean;
  /** Replaces `stale` (expired or refused): resolves once current() is a good token; an MxError when the login is gone. */
  refresh(stale: string): Promise<void>;
}

/** Where and as whom requests go, plus the process's plumbing. */
export interface MatrixClient {
  /** Homeserver base URL without a trailing slash, e.g. `https://matrix.example.org`. */
  baseUrl: string;
  /** The access token as the session started with it (`tokens`, when set, has the current one). */
  accessToken?: string;
  tokens?: TokenSource;
  /** Said when the server no longer knows the token: how to log in again (`run mx login -p NAME`). */
  reloginHint?: string;
  dispatcher: Dispatcher;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** Debug log sink (one line per call); lines never contain secrets. */
  debug?: (line: string) => void;
  /** How patiently to retry; DEFAULT_RETRY_POLICY when unset. */
  retry?: RetryPolicy;
  /** How long a long poll may take past its own timeout (sync.ts; LONG_POLL_MARGIN_MS when unset). */
  longPollMarginMs?: number;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestSpec {
  method: Method;
  /** Path with its parameters already encoded (use `encodePath`), e.g. `/_matrix/client/v3/login`. */
  path: string;
  /** Query parameters; an array repeats the parameter (`via=a&via=b`). */
  query?: Record<string, string | number | boolean | string[] | undefined>;
  /** A JSON request body. */
  body?: unknown;
  /** A non-JSON body (media uploads), sent as is; kept in memory so a retry can resend it. */
  rawBody?: { data: Buffer; contentType: string };
  /** Send the client's access token. Fails before any request when there is none. */
  auth: boolean;
  /**
   * Safe to send twice: a retry after a network error or a 502/503/504 cannot do harm.
   * (A 429 is always retried: the server refused it, so nothing happened.)
   */
  idempotent: boolean;
  /** Per-request time limit for headers and body; a long poll passes its own timeout plus a margin. */
  timeoutMs?: number;
  /** Names the call in error messages, e.g. "login". */
  what: string;
  /** Said when the answer is over mx's size limit: how to ask for a smaller one. */
  tooLargeHint?: string;
  /** Told of the answer's bytes as they arrive (media downloads): received so far, and the whole length when the server says. */
  onProgress?: (received: number, total: number | undefined) => void;
}

export interface RetryPolicy {
  /** Retries after 429 M_LIMIT_EXCEEDED. */
  rateLimitRetries: number;
  /** Longest server-requested wait mx accepts; a longer one fails at once as temporary. */
  maxRateLimitWaitMs: number;
  /** Retries of idempotent requests after network errors and 502/503/504. */
  transientRetries: number;
  /** First backoff delay; doubles each attempt, with jitter. */
  backoffMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  rateLimitRetries: 5,
  maxRateLimitWaitMs: 60_000,
  transientRetries: 3,
  backoffMs: 250,
};

const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * The largest answer mx reads. A JSON answer is parsed whole, so a bigger one would take
 * several times its size in memory; Matrix answers are far smaller (history and sync come in
 * pages). Media and `mx api` answers are bytes kept in memory too, with a larger limit.
 */
const MAX_JSON_ANSWER_BYTES = 64 * 1024 * 1024;
const MAX_RAW_ANSWER_BYTES = 1024 * 1024 * 1024;
/**
 * The deepest nesting of arrays and objects mx reads in a JSON answer. JSON.parse takes any
 * depth, but what walks the value afterwards recurses (JSON.stringify, the crypto engine, the
 * views), and a server could nest an answer deep enough to overflow the stack there. A Matrix
 * answer is a few levels of envelope (rooms, join, timeline, events) around events of at most
 * 64 KiB, whose content real clients nest a handful of levels deep; the crypto engine's own
 * parser stops at 128. 512 is far beyond anything real and far below an overflow.
 */
const MAX_JSON_DEPTH = 512;
const TRANSIENT_STATUSES = new Set([502, 503, 504]);
/** Query parameters whose values are secrets and must not reach a log line. */
const SECRET_PARAM = /token|password|secret/i;

/** Encodes each parameter of a path template: encodePath`/rooms/${roomId}/state`. */
export function encodePath(strings: TemplateStringsArray, ...params: string[]): string {
  return strings.reduce((path, part, i) => path + part + (i < params.length ? encodeURIComponent(params[i]!) : ''), '');
}

function buildUrl(baseUrl: string, path: string, query?: RequestSpec['query']): URL {
  // Checked before any request: a file: or javascript: URL would fail in undici as a network
  // error, which is retried (a tail, for ever). It is a bad setting, not a bad network.
  const url = URL.canParse(baseUrl + path) ? new URL(baseUrl + path) : undefined;
  if (url?.protocol !== 'https:' && url?.protocol !== 'http:') {
    throw new UsageError('the homeserver URL is not an http:// or https:// URL: check --homeserver, MX_HOMESERVER, the config file or the profile');
  }
  for (const [key, value] of Object.entries(query ?? {})) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      url.searchParams.append(key, String(item));
    }
  }
  return url;
}

function redactUrl(url: URL): string {
  const shown = new URL(url);
  for (const key of [...shown.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) shown.searchParams.set(key, 'REDACTED');
  }
  return shown.toString();
}

/** Seconds or an HTTP date, per RFC 9110; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Sends one Matrix API call and returns its parsed JSON body. Non-2xx answers throw
 * MatrixError; answers that are not JSON throw UnexpectedResponseError; no answer throws
 * NetworkError. Rate limits and (for idempotent calls) transient failures are retried.
 */
export async function matrixRequest<T>(
  client: MatrixClient,
  spec: RequestSpec,
  policy: RetryPolicy = client.retry ?? DEFAULT_RETRY_POLICY,
): Promise<T> {
  return withRetries(client, spec, policy, async () => {
    const answer = await exchange(client, spec, 'json');
    const parsed = parseJsonObject(answer.bytes.toString('utf8'), answer.contentType, spec.what, answer.status);
    if (parsed === undefined) throw notJson(answer, spec);
    if (answer.status < 200 || answer.status > 299) throw matrixError(client, spec, answer, parsed);
    return parsed as T;
  });
}

/** A 2xx answer taken as bytes, whatever its content type (media, or anything `mx api` calls). */
export interface RawAnswer {
  status: number;
  contentType: string;
  /** Every header of the answer (names in lower case). */
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
}

/**
 * Like matrixRequest, but a 2xx answer is returned as bytes instead of being parsed as JSON.
 * Error answers are errors exactly as for matrixRequest (and retried the same way).
 */
export async function matrixRawRequest(
  client: MatrixClient,
  spec: RequestSpec,
  policy: RetryPolicy = client.retry ?? DEFAULT_RETRY_POLICY,
): Promise<RawAnswer> {
  return withRetries(client, spec, policy, async () => {
    const answer = await exchange(client, spec, 'raw');
    if (answer.status >= 200 && answer.status <= 299) return answer;
    const parsed = parseJsonObject(answer.bytes.toString('utf8'), answer.contentType, spec.what, answer.status);
    throw parsed === undefined ? notJson(answer, spec) : matrixError(client, spec, answer, parsed);
  });
}

/** The access token to send now. */
export function currentToken(client: MatrixClient): string | undefined {
  return client.tokens?.current() ?? client.accessToken;
}

async function withRetries<T>(client: MatrixClient, spec: RequestSpec, policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  if (spec.auth && !currentToken(client)) {
    throw new MxError(`${spec.what}: not logged in (no access token); run mx login first`, ExitCode.auth);
  }
  let rateLimited = 0;
  let transient = 0;
  // One refresh per request: a token refused right after its refresh is not refreshed again.
  let refreshed = false;
  for (;;) {
    const { tokens } = client;
    if (spec.auth && tokens && !refreshed && tokens.expired()) {
      refreshed = true;
      await tokens.refresh(tokens.current());
    }
    const used = currentToken(client);
    try {
      return await attempt();
    } catch (error) {
      if (spec.auth && tokens && error instanceof MatrixError && error.softLogout && error.errcode === 'M_UNKNOWN_TOKEN') {
        if (!refreshed) {
          refreshed = true;
          client.debug?.(`  the access token expired: refreshing, then ${spec.method} ${spec.path} again`);
          await tokens.refresh(used!);
          continue;
        }
      }
      const wait = retryDelay(error, spec, policy, rateLimited, transient);
      if (wait === undefined) throw error;
      // The same rule that chose the wait counts it: every rate limit answer uses up a rate limit retry.
      if (isRateLimit(error)) rateLimited++;
      else transient++;
      client.debug?.(`  retrying ${spec.method} ${spec.path} in ${wait} ms (${(error as Error).message})`);
      await client.sleep(wait, client.signal);
    }
  }
}

function retryDelay(
  error: unknown,
  spec: RequestSpec,
  policy: RetryPolicy,
  rateLimited: number,
  transient: number,
): number | undefined {
  if (isRateLimit(error)) {
    if (rateLimited >= policy.rateLimitRetries) return undefined;
    const wait = (error as MatrixError | UnexpectedResponseError).retryAfterMs ?? backoff(policy.backoffMs, rateLimited);
    return wait <= policy.maxRateLimitWaitMs ? wait : undefined;
  }
  const isTransient =
    error instanceof NetworkError || (error instanceof MatrixError && TRANSIENT_STATUSES.has(error.status)) ||
    (error instanceof UnexpectedResponseError && TRANSIENT_STATUSES.has(Number(error.details.status)));
  if (isTransient && spec.idempotent && transient < policy.transientRetries) {
    return backoff(policy.backoffMs, transient);
  }
  return undefined;
}

function backoff(baseMs: number, attempt: number): number {
  const delay = baseMs * 2 ** attempt;
  return Math.round(delay / 2 + Math.random() * (delay / 2));
}

interface Exchange extends RawAnswer {
  origin: string;
  retryAfterMs: number | undefined;
}

/**
 * One request and its whole answer; no answer at all is a NetworkError. A JSON answer must come
 * whole within the request's time limit (a body that trickles in forever is cut there); a raw
 * one (media) may take longer as long as its bytes keep coming (the limit then applies to each
 * silence). Either way the answer is read up to its size limit only.
 */
async function exchange(client: MatrixClient, spec: RequestSpec, kind: 'json' | 'raw'): Promise<Exchange> {
  const url = buildUrl(client.baseUrl, spec.path, spec.query);
  const headers: Record<string, string> = { 'user-agent': `mx/${VERSION}`, accept: 'application/json' };
  const token = spec.auth ? currentToken(client) : undefined;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | Buffer | undefined;
  if (spec.rawBody) {
    headers['content-type'] = spec.rawBody.contentType;
    body = spec.rawBody.data;
  } else if (spec.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(spec.body);
  }
  const timeout = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // A JSON answer's whole-answer limit: a controller of this request's own, which the client's
  // signal (Ctrl-C, --max-time) also aborts. A listener removed afterwards, not AbortSignal.any,
  // so that a long-lived signal collects nothing over a tail's thousands of requests.
  const answerTimer = kind === 'json' ? new AbortController() : undefined;
  const timer = answerTimer && setTimeout(() => answerTimer.abort(), timeout);
  const forwardAbort = () => answerTimer?.abort(client.signal?.reason);
  if (answerTimer && client.signal?.aborted) forwardAbort();
  else if (answerTimer) client.signal?.addEventListener('abort', forwardAbort, { once: true });
  const signal = answerTimer?.signal ?? client.signal;
  // process.hrtime, not the global `performance`, whose first use loads perf_hooks.
  const started = process.hrtime.bigint();
  client.debug?.(`> ${spec.method} ${redactUrl(url)}`);
  try {
    const response = await client.dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: spec.method,
      headers,
      body,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal,
    });
    const contentType = String(response.headers['content-type'] ?? '');
    const bytes = await readAnswer(response, kind === 'json' ? MAX_JSON_ANSWER_BYTES : MAX_RAW_ANSWER_BYTES, spec, url.origin);
    client.debug?.(`< ${response.statusCode} ${contentType || '(no content type)'} ${(process.hrtime.bigint() - started) / 1_000_000n} ms`);
    await connectionReleased();
    return {
      status: response.statusCode,
      contentType,
      headers: response.headers,
      bytes,
      origin: url.origin,
      retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    };
  } catch (error) {
    if (client.signal?.aborted) {
      const reason: unknown = client.signal.reason;
      // --max-time: say what was being waited for.
      if (reason instanceof DeadlineReached) throw new DeadlineReached(reason.limit, `${spec.what}: no answer from ${url.origin}`);
      throw error;
    }
    if (error instanceof MxError) throw error;
    if (answerTimer?.signal.aborted) {
      throw new NetworkError(`${spec.what}: ${url.origin} did not answer in full within ${timeout / 1000} s`, error);
    }
    throw networkError(`${spec.what}: cannot reach ${url.origin}`, error, url.hostname);
  } finally {
    clearTimeout(timer);
    client.signal?.removeEventListener('abort', forwardAbort);
  }
}

/** The answer's body, refused (exit 1, not retried) once it is larger than `limit`. */
async function readAnswer(response: Dispatcher.ResponseData, limit: number, spec: RequestSpec, origin: string): Promise<Buffer> {
  const length = Number(response.headers['content-length'] ?? NaN);
  const total = Number.isFinite(length) && length >= 0 ? length : undefined;
  const tooLarge = () => {
    response.body.destroy();
    return new MxError(
      `${spec.what}: ${origin} sent an answer larger than ${limit / 1024 / 1024} MiB, mx's limit${spec.tooLargeHint ? ` (${spec.tooLargeHint})` : ''}`,
      ExitCode.failure,
      { limit_bytes: limit },
    );
  };
  if (total !== undefined && total > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of response.body) {
    received += (chunk as Buffer).length;
    if (received > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
    spec.onProgress?.(received, total);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
}

/**
 * undici hands a connection back to its pool one event-loop turn after the response's body has
 * been read; a request made before that (mx's next one usually is: a send right after the
 * room's encryption check) finds it busy and opens another connection (a TCP and TLS handshake
 * more, and a request more on a new connection). Waiting that turn keeps one connection for a command's requests.
 */
function connectionReleased(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function notJson(answer: Exchange, spec: RequestSpec): UnexpectedResponseError {
  const { status, contentType, origin } = answer;
  return new UnexpectedResponseError(
    `${spec.what}: ${origin} answered HTTP ${status} with ${contentType || 'no content type'} instead of a JSON object` +
      (contentType.includes('html') ? ' (a proxy or web server page? check the homeserver URL)' : ''),
    status,
    answer.retryAfterMs,
  );
}

function matrixError(client: MatrixClient, spec: RequestSpec, answer: Exchange, parsed: Record<string, unknown>): MatrixError {
  const retryAfterMs = answer.retryAfterMs ?? (typeof parsed.retry_after_ms === 'number' ? parsed.retry_after_ms : undefined);
  const error = new MatrixError(answer.status, parsed, `${spec.what}${unknownTokenHint(client, spec, parsed)}`, retryAfterMs);
  client.debug?.(`  ${error.errcode ?? 'no errcode'}: ${String(parsed.error ?? '')}`);
  return error;
}

/** What a user can do about a token the server no longer takes ('' for other errors). */
function unknownTokenHint(client: MatrixClient, spec: RequestSpec, parsed: Record<string, unknown>): string {
  if (!spec.auth || parsed.errcode !== 'M_UNKNOWN_TOKEN') return '';
  // An expired token that mx could not refresh: a token from outside a profile (MX_ACCESS_TOKEN).
  if (parsed.soft_logout === true && !client.tokens) {
    return client.reloginHint
      ? ` (the access token has expired and this profile has no refresh token: ${client.reloginHint})`
      : ' (the access token has expired, and a token given as MX_ACCESS_TOKEN cannot be refreshed: get a new one; mx login --no-refresh makes one that does not expire)';
  }
  // Forgotten for good (logged out elsewhere, the device deleted): say how to log in again.
  return parsed.soft_logout !== true && client.reloginHint ? ` (the login is gone: ${client.reloginHint})` : '';
}

/** The body as a JSON object, or undefined when it is not one (HTML, truncated, an array); nested too deep, an error. */
function parseJsonObject(text: string, contentType: string, what: string, status: number): Record<string, unknown> | undefined {
  // Synapse always says application/json; some proxies do not label JSON, so try when unlabelled.
  if (contentType && !/json/i.test(contentType)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  refuseDeepNesting(text, what, status);
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Refuses (UnexpectedResponseError: exit 1, not retried) a JSON text, parsed already, whose
 * arrays and objects nest deeper than MAX_JSON_DEPTH. Every JSON answer passes here before
 * anything walks its value: matrixRequest's, and those that callers of matrixRawRequest parse.
 */
export function refuseDeepNesting(text: string, what: string, status: number): void {
  if (nestedDeeperThanAllowed(text)) {
    throw new UnexpectedResponseError(`${what}: the server's answer is malformed: its JSON is nested more than ${MAX_JSON_DEPTH} levels deep (not read)`, status);
  }
}

/** Whether a valid JSON text's arrays and objects nest deeper than MAX_JSON_DEPTH. */
export function nestedDeeperThanAllowed(text: string): boolean {
  // Each level takes an opening and a closing character: a short text cannot be deep.
  if (text.length <= 2 * MAX_JSON_DEPTH) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: brackets in it do not count (the text is valid JSON, so it ends).
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * A request that got no answer: a NetworkError (exit 7, retried when safe), except a TLS
 * failure (exit 1, never retried: the same certificate comes back), which says why in words.
 */
function networkError(prefix: string, error: unknown, host: string): MxError {
  const err = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code;
  const tls = code && TLS_FAILURES[code];
  if (tls) return new MxError(`${prefix}: ${tls.replace('HOST', host)}`, ExitCode.failure, { tls_error: code }, { cause: error });
  return new NetworkError(`${prefix}: ${describeNetworkError(code, err.message ?? err.cause?.message, error)}`, error);
}

const PRIVATE_CA_HINT = 'for a private CA, pass its certificate with --cacert FILE';
/** What certificate and handshake errors mean, by their OpenSSL and Node codes. */
const TLS_FAILURES: Record<string, string> = {
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  CERT_NOT_YET_VALID: "its TLS certificate is not valid yet (check this machine's clock)",
  DEPTH_ZERO_SELF_SIGNED_CERT: `its TLS certificate is self-signed, not from a CA this machine trusts (${PRIVATE_CA_HINT})`,
  SELF_SIGNED_CERT_IN_CHAIN: `its TLS certificate comes from a self-signed CA this machine does not trust (${PRIVATE_CA_HINT})`,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: `its TLS certificate comes from a CA this machine does not trust (${PRIVATE_CA_HINT})`,
  UNABLE_TO_GET_ISSUER_CERT: `its TLS certificate comes from a CA this machine does not trust (${PRIVATE_CA_HINT})`,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: `its TLS certificate cannot be checked against a CA this machine trusts (${PRIVATE_CA_HINT})`,
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name, not HOST (the wrong host, or a certificate for another site)',
  CERT_REVOKED: 'its TLS certificate has been revoked',
  CERT_SIGNATURE_FAILURE: 'its TLS certificate has a bad signature',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the TLS handshake failed: is it a plain http:// server? (mx never falls back to http)',
};

function describeNetworkError(code: string | undefined, message: string | undefined, error: unknown): string {
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timed out waiting for an answer';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'the connection did not open in time (connect timeout; --connect-timeout SECONDS)';
    case 'ECONNREFUSED':
      return 'connection refused (is the homeserver running?)';
    case 'ENOTFOUND':
      return 'host not found';
    default:
      return [code, message].filter(Boolean).join(' ') || String(error);
  }
}
