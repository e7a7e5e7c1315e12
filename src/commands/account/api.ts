import type { Context } from '../../context.js';
import { UsageError } from '../../errors.js';
import { readJsonData } from '../../input.js';
import { MatrixError } from '../../matrix/errors.js';
import { matrixRawRequest, type MatrixClient, type Method, type RawAnswer } from '../../matrix/http.js';
import { writePrivateFile } from '../../output/files.js';
import { defineCommand } from '../command.js';

const METHODS: readonly Method[] = ['GET', 'POST', 'PUT', 'DELETE'];
/** Paths outside the client API prefix that a user may want to call directly. */
const ROOTED_PATH = /^\/(_matrix|_synapse|\.well-known)\//;

export interface ApiOptions {
  method: Method;
  path: string;
  data: string | undefined;
  auth: boolean;
  outputFile: string | undefined;
}

export const apiCommand = defineCommand({
  command: 'api <method> <path>',
  describe: "Make a raw API call with the profile's auth and print the answer (JSON as JSON, anything else as bytes)",
  builder: (y) =>
    y
      .positional('method', { type: 'string', demandOption: true, describe: 'GET, POST, PUT or DELETE' })
      .positional('path', { type: 'string', demandOption: true, describe: 'e.g. /v3/joined_rooms (under /_matrix/client) or /_matrix/...' })
      .option('data', { alias: 'd', type: 'string', nargs: 1, describe: 'JSON body: inline, @file, or - for stdin' })
      .option('auth', { type: 'boolean', default: true, describe: 'send the access token (--no-auth to call without)' })
      .option('output-file', { type: 'string', nargs: 1, describe: 'write the answer body, as received, to this file (mode 0600) instead of stdout' })
      .example('mx api GET /v3/joined_rooms', '')
      .example("mx api PUT /v3/profile/@me:example.org/displayname -d '{\"displayname\":\"Me\"}'", '')
      .example('mx api GET /v1/media/download/example.org/abc --output-file cat.png', 'media bytes to a file'),
  validate(args): ApiOptions {
    const method = args.method.toUpperCase() as Method;
    if (!METHODS.includes(method)) throw new UsageError(`method must be one of ${METHODS.join(', ')}, not "${args.method}"`);
    if (!args.path.startsWith('/')) throw new UsageError(`path must start with / (like /v3/joined_rooms), not "${args.path}"`);
    if (args.outputFile === '') throw new UsageError('--output-file needs a file name');
    const path = ROOTED_PATH.test(args.path) ? args.path : `/_matrix/client${args.path}`;
    return { method, path, data: args.data, auth: args.auth, outputFile: args.outputFile };
  },
  async run(ctx, opts) {
    const body = opts.data === undefined ? undefined : await readJsonData(ctx.io, opts.data, '--data');
    const client = opts.auth ? (await ctx.session()).client : await anonymousClient(ctx);
    let answer: RawAnswer;
    try {
      answer = await matrixRawRequest(client, {
        method: opts.method, path: opts.path, body, auth: opts.auth,
        // PUT and DELETE are idempotent by HTTP's definition (and the spec uses PUT with txn IDs).
        idempotent: opts.method !== 'POST', what: `${opts.method} ${opts.path}`,
      });
    } catch (error) {
      // Like `gh api`: the error body goes to stdout for scripts, the message to stderr.
      if (error instanceof MatrixError) await ctx.out.print(error.body, {});
      throw error;
    }
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
  },
});

/** The answer's JSON value when it is labelled JSON and parses (any JSON value, not only objects). */
function asJson(answer: RawAnswer): { value: unknown } | undefined {
  if (!/json/i.test(answer.contentType)) return undefined;
  try {
    return { value: JSON.parse(answer.bytes.toString('utf8')) };
  } catch {
    return undefined;
  }
}

function isText(contentType: string): boolean {
  return /^text\/|json|xml|javascript/i.test(contentType);
}

async function anonymousClient(ctx: Context): Promise<MatrixClient> {
  const fromProfile = async () => (await ctx.storeData()).profiles[await ctx.profileName()]?.homeserver;
  const baseUrl = ctx.explicitHomeserver() ?? (await fromProfile()) ?? ctx.configHomeserver();
  if (!baseUrl) throw new UsageError('no homeserver: pass --homeserver URL or set MX_HOMESERVER');
  return { ...ctx.plumbing(), baseUrl };
}
