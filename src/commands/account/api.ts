import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { MatrixError } from '../../matrix/errors.js';
import { matrixRequest, type MatrixClient, type Method } from '../../matrix/http.js';
import { readStdin } from '../../secrets.js';
import { defineCommand } from '../command.js';

const METHODS: readonly Method[] = ['GET', 'POST', 'PUT', 'DELETE'];
/** Paths outside the client API prefix that a user may want to call directly. */
const ROOTED_PATH = /^\/(_matrix|_synapse|\.well-known)\//;

export const apiCommand = defineCommand({
  command: 'api <method> <path>',
  describe: 'Make a raw API call with the profile\'s auth and print the JSON answer',
  builder: (y) =>
    y
      .positional('method', { type: 'string', demandOption: true, describe: 'GET, POST, PUT or DELETE' })
      .positional('path', { type: 'string', demandOption: true, describe: 'e.g. /v3/joined_rooms (under /_matrix/client) or /_matrix/...' })
      .option('data', { alias: 'd', type: 'string', nargs: 1, describe: 'JSON body: inline, @file, or - for stdin' })
      .option('auth', { type: 'boolean', default: true, describe: 'send the access token (--no-auth to call without)' })
      .example('mx api GET /v3/joined_rooms', '')
      .example("mx api PUT /v3/profile/@me:example.org/displayname -d '{\"displayname\":\"Me\"}'", ''),
  async run(ctx, args) {
    const method = args.method.toUpperCase() as Method;
    if (!METHODS.includes(method)) throw new UsageError(`method must be one of ${METHODS.join(', ')}, not "${args.method}"`);
    if (!args.path.startsWith('/')) throw new UsageError(`path must start with / (like /v3/joined_rooms), not "${args.path}"`);
    const fullPath = ROOTED_PATH.test(args.path) ? args.path : `/_matrix/client${args.path}`;
    const body = args.data === undefined ? undefined : await readJsonData(ctx, args.data);
    const client = args.auth ? (await ctx.session()).client : await anonymousClient(ctx);
    try {
      const answer = await matrixRequest<unknown>(client, {
        method, path: fullPath, body, auth: args.auth,
        // PUT and DELETE are idempotent by HTTP's definition (and the spec uses PUT with txn IDs).
        idempotent: method !== 'POST', what: `${method} ${fullPath}`,
      });
      await ctx.out.print(answer, {});
    } catch (error) {
      // Like `gh api`: the error body goes to stdout for scripts, the message to stderr.
      if (error instanceof MatrixError) await ctx.out.print(error.body, {});
      throw error;
    }
  },
});

async function anonymousClient(ctx: Context): Promise<MatrixClient> {
  const fromProfile = async () => (await ctx.storeData()).profiles[await ctx.profileName()]?.homeserver;
  const baseUrl = ctx.explicitHomeserver() ?? (await fromProfile()) ?? ctx.configHomeserver();
  if (!baseUrl) throw new UsageError('no homeserver: pass --homeserver URL or set MX_HOMESERVER');
  return { ...ctx.plumbing(), baseUrl };
}

/** --data (or another flag's value): inline JSON, @file, or - for stdin. */
export async function readJsonData(ctx: Context, data: string, flag = '--data'): Promise<unknown> {
  let text: string;
  let source: string;
  if (data === '-') {
    [text, source] = [await readStdin(ctx.io), 'stdin'];
  } else if (data.startsWith('@')) {
    const file = path.resolve(ctx.io.cwd, data.slice(1));
    try {
      [text, source] = [await readFile(file, 'utf8'), file];
    } catch (error) {
      throw new MxError(`cannot read ${flag} file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`, ExitCode.usage);
    }
  } else {
    [text, source] = [data, flag];
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
}
