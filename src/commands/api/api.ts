import type { Context } from '../../context.js';
import type { Session } from '../../session.js';
import { UsageError } from '../../errors.js';
import { readJsonData } from '../../input.js';
import { MatrixError } from '../../matrix/errors.js';
import { matrixRawRequest, refuseDeepNesting, type MatrixClient, type Method, type RawAnswer } from '../../matrix/http.js';
import { printable } from '../../matrix/identifiers.js';
import { isEndlessStream, nextPageToken, pageTokenParameter } from '../../matrix/paging.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { writePrivateFile } from '../../output/files.js';
import { profileIn } from '../../profiles/store.js';
import { defineCommand } from '../command.js';

const METHODS: readonly Method[] = ['GET', 'POST', 'PUT', 'DELETE'];
/** Paths outside the client API prefix that a user may want to call directly. */
const ROOTED_PATH = /^\/(_matrix|_synapse|\.well-known)\//;

export interface ApiOptions {
  method: Method;
  /** The path without its query, placeholders still in it. */
  path: string;
  /** The path's own query parameters, then the -f/-F fields of a GET or DELETE. */
  query: [string, string][];
  data: string | undefined;
  /** -f/-F fields for the JSON body of a POST or PUT. */
  fields: Record<string, unknown>;
  auth: boolean;
  outputFile: string | undefined;
  include: boolean;
  paginate: boolean;
}

export const apiCommand = defineCommand({
  command: 'api <method> <path>',
  describe: "Make a raw API call with the profile's auth and print the answer (JSON as JSON, anything else as bytes)",
  builder: (y) =>
    y
      .positional('method', { type: 'string', demandOption: true, describe: 'GET, POST, PUT or DELETE' })
      .positional('path', { type: 'string', demandOption: true, describe: 'e.g. /v3/joined_rooms (under /_matrix/client) or /_matrix/...; {me}, {device} and {room:#alias:server} are filled in' })
      .option('data', { alias: 'd', type: 'string', nargs: 1, describe: 'JSON body: inline, @file, or - for stdin' })
      .option('raw-field', { alias: 'f', type: 'string', array: true, nargs: 1, describe: 'key=value, a string field (query parameter for GET and DELETE, body field otherwise; repeatable)' })
      .option('field', { alias: 'F', type: 'string', array: true, nargs: 1, describe: 'key=JSON, a typed field (true, 42, null, {"a":1}; anything else is a string; repeatable)' })
      .option('include', { alias: 'i', type: 'boolean', describe: 'print the HTTP status line and headers before the body' })
      .option('paginate', { type: 'boolean', describe: 'follow next_batch / end / next_token to the last page, one JSON line per page' })
      .option('auth', { type: 'boolean', default: true, describe: 'send the access token (--no-auth to call without)' })
      .option('output-file', { type: 'string', nargs: 1, describe: 'write the answer body, as received, to this file (mode 0600) instead of stdout' })
      .example('mx api GET /v3/joined_rooms', '')
      .example("mx api PUT '/v3/profile/{me}/displayname' -f displayname=Me", 'placeholders and fields')
      .example("mx api GET '/v3/rooms/{room:#ops:example.org}/messages' -f dir=b -F limit=100 --paginate | jq -c '.chunk[]'", 'every page')
      .example('mx api GET /v1/media/download/example.org/abc --output-file cat.png', 'media bytes to a file'),
  validate(args): ApiOptions {
    const method = args.method.toUpperCase() as Method;
    if (!METHODS.includes(method)) throw new UsageError(`method must be one of ${METHODS.join(', ')}, not "${printable(args.method)}"`);
    if (!args.path.startsWith('/')) throw new UsageError(`path must start with / (like /v3/joined_rooms), not "${printable(args.path)}"`);
    if (args.outputFile === '') throw new UsageError('--output-file needs a file name');
    const [pathname, search = ''] = args.path.split(/\?(.*)/s, 2);
    const full = ROOTED_PATH.test(pathname!) ? pathname! : `/_matrix/client${pathname}`;
    if (args.paginate && isEndlessStream(full)) throw new UsageError('--paginate does not follow /sync, which never ends: use mx tail');
    if (args.paginate && args.outputFile !== undefined) throw new UsageError('--paginate prints pages as JSON lines: give no --output-file');
    const fields = [...(args.rawField ?? []).map((f) => parseField(f, '-f', false)), ...(args.field ?? []).map((f) => parseField(f, '-F', true))];
    const inQuery = method === 'GET' || method === 'DELETE';
    if (inQuery && args.data !== undefined) throw new UsageError(`${method} sends no body: give no --data (fields become query parameters)`);
    const query: [string, string][] = [...new URLSearchParams(search)];
    if (inQuery) for (const [key, value] of fields) query.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
    return {
      method, path: full, query, data: args.data, fields: inQuery ? {} : Object.fromEntries(fields), auth: args.auth,
      outputFile: args.outputFile, include: Boolean(args.include), paginate: Boolean(args.paginate),
    };
  },
  async run(ctx, opts) {
    // The user's input first: a bad body fails before anything else.
    const body = await requestBody(ctx, opts);
    const session = opts.auth ? await ctx.session() : undefined;
    const client = session ? session.client : await anonymousClient(ctx);
    const path = await fillPlaceholders(ctx, session, opts.path);
    const call = async (token?: string): Promise<RawAnswer> => {
      const query = [...opts.query];
      const tokenParam = pageTokenParameter(path);
      let pageBody = body;
      if (token !== undefined) {
        if (opts.method === 'POST' || opts.method === 'PUT') pageBody = { ...(body as Record<string, unknown> | undefined), [tokenParam]: token };
        else query.splice(0, query.length, ...query.filter(([key]) => key !== tokenParam), [tokenParam, token]);
      }
      try {
        return await matrixRawRequest(client, {
          method: opts.method, path, query: queryObject(query), body: pageBody, auth: opts.auth,
          // PUT and DELETE are idempotent by HTTP's definition (and the spec uses PUT with txn IDs).
          idempotent: opts.method !== 'POST', what: `${opts.method} ${path}`,
        });
      } catch (error) {
        // Like `gh api`: the error body goes to stdout for scripts, the message to stderr.
        if (error instanceof MatrixError) await ctx.out.print(error.body, {});
        throw error;
      }
    };
    let token: string | undefined;
    do {
      const answer = await call(token);
      if (opts.include) await ctx.out.writeBytes(Buffer.from(statusAndHeaders(answer)));
      if (!opts.paginate) return printAnswer(ctx, opts, answer);
      const json = asJson(answer);
      if (json === undefined) throw new UsageError(`--paginate: ${path} answered ${answer.contentType || 'something'} that is not JSON`);
      await ctx.out.item(json.value as Record<string, unknown>, () => JSON.stringify(json.value));
      token = nextPageToken(json.value, token);
    } while (token !== undefined);
  },
});

async function printAnswer(ctx: Context, opts: ApiOptions, answer: RawAnswer): Promise<void> {
  if (opts.outputFile !== undefined) {
    await writePrivateFile(ctx.io.cwd, opts.outputFile, answer.bytes);
    return;
  }
  const json = asJson(answer);
  if (json !== undefined) return void (await ctx.out.print(json.value, {}));
  if (ctx.io.stdoutIsTTY && !isText(answer.contentType)) {
    throw new UsageError(`the answer is ${answer.contentType || 'binary data'} (${answer.bytes.length} bytes): not printed on a terminal; use --output-file FILE or a pipe`);
  }
  await ctx.out.writeBytes(answer.bytes);
}

/** -f key=value (a string) or -F key=JSON (typed; what is not JSON stays a string). */
function parseField(field: string, flag: string, typed: boolean): [string, unknown] {
  const eq = field.indexOf('=');
  if (eq <= 0) throw new UsageError(`${flag} takes key=value, not "${printable(field)}"`);
  const [key, value] = [field.slice(0, eq), field.slice(eq + 1)];
  if (!typed) return [key, value];
  try {
    return [key, JSON.parse(value)];
  } catch {
    return [key, value];
  }
}

/** The JSON body: --data, with the -f/-F fields set in it. */
async function requestBody(ctx: Context, opts: ApiOptions): Promise<unknown> {
  const data = opts.data === undefined ? undefined : await readJsonData(ctx.io, opts.data, '--data');
  if (Object.keys(opts.fields).length === 0) return data;
  if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) {
    throw new UsageError('fields (-f, -F) go into a JSON object: --data must be one');
  }
  return { ...(data as Record<string, unknown> | undefined), ...opts.fields };
}

/**
 * {me} and {device}: the session's user and device; {room:ROOM}: the room ID of a room alias (or
 * ID), resolved now. Each is URL-encoded into the path.
 */
async function fillPlaceholders(ctx: Context, session: Session | undefined, path: string): Promise<string> {
  const needsSession = () => {
    if (!session) throw new UsageError('{me} and {device} need the session: give no --no-auth');
    return session;
  };
  let out = '';
  let rest = path;
  for (let match = /\{(me|device|room:([^}]+))\}/.exec(rest); match; match = /\{(me|device|room:([^}]+))\}/.exec(rest)) {
    let value: string;
    if (match[1] === 'me') value = (await needsSession().whoAmI()).userId;
    else if (match[1] === 'device') {
      const { deviceId } = await needsSession().whoAmI();
      if (!deviceId) throw new UsageError('{device}: the server does not say which device this token is');
      value = deviceId;
    } else value = await resolveRoom(session?.client ?? (await anonymousClient(ctx)), decodeURIComponent(match[2]!));
    out += rest.slice(0, match.index) + encodeURIComponent(value);
    rest = rest.slice(match.index + match[0].length);
  }
  return out + rest;
}

function queryObject(pairs: [string, string][]): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [key, value] of pairs) (query[key] ??= []).push(value);
  return query;
}

/** `HTTP 200` and the headers, as `-i` shows them (then a blank line, then the body). */
function statusAndHeaders(answer: RawAnswer): string {
  const lines = [`HTTP ${answer.status}`];
  for (const [name, value] of Object.entries(answer.headers)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) lines.push(`${name}: ${one}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * The answer's JSON value when it is labelled JSON and parses (any JSON value, not only objects).
 * JSON nested too deep to be walked safely (http.ts) goes out as the bytes it came as instead.
 */
function asJson(answer: RawAnswer): { value: unknown } | undefined {
  if (!/json/i.test(answer.contentType)) return undefined;
  try {
    const text = answer.bytes.toString('utf8');
    const value: unknown = JSON.parse(text);
    refuseDeepNesting(text, 'api', answer.status);
    return { value };
  } catch {
    return undefined;
  }
}

function isText(contentType: string): boolean {
  return /^text\/|json|xml|javascript/i.test(contentType);
}

async function anonymousClient(ctx: Context): Promise<MatrixClient> {
  const fromProfile = async () => profileIn(await ctx.storeData(), await ctx.sessions.profileName())?.homeserver;
  const baseUrl = ctx.sessions.explicitHomeserver() ?? (await fromProfile()) ?? ctx.sessions.configHomeserver();
  if (!baseUrl) throw new UsageError('no homeserver: pass --homeserver URL or set MX_HOMESERVER');
  return { ...ctx.plumbing(), baseUrl };
}
