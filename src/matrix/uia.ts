/** User-interactive authentication (spec: "User-Interactive Authentication API"). */
import { ExitCode, MxError } from '../errors.js';
import type { AuthData } from './account.js';
import { MatrixError } from './errors.js';

/**
 * Builds the auth dict for one stage type, given the server's params for it (asynchronously
 * when it must ask for something first: a password only the server's challenge calls for).
 */
export type StageHandler = (params: unknown) => Record<string, unknown> | Promise<Record<string, unknown>>;

interface UiaState {
  flows: { stages: string[] }[];
  session?: string;
  completed: string[];
  params: Record<string, unknown>;
}

function uiaState(error: unknown): UiaState | undefined {
  if (!(error instanceof MatrixError) || error.status !== 401 || !Array.isArray(error.body.flows)) return undefined;
  const { flows, session, completed, params } = error.body;
  return {
    flows: (flows as { stages?: unknown }[]).map((flow) => ({
      stages: Array.isArray(flow.stages) ? flow.stages.filter((s): s is string => typeof s === 'string') : [],
    })),
    session: typeof session === 'string' ? session : undefined,
    completed: Array.isArray(completed) ? completed.filter((s): s is string => typeof s === 'string') : [],
    params: params && typeof params === 'object' ? (params as Record<string, unknown>) : {},
  };
}

/**
 * Runs `attempt` and answers the server's auth challenges with the given stage handlers,
 * choosing the first advertised flow whose remaining stages mx can all complete.
 * `explainMissing` turns the stages that no flow could do without into a clear error.
 */
export async function withUserInteractiveAuth<T>(
  attempt: (auth?: AuthData) => Promise<T>,
  handlers: Record<string, StageHandler>,
  explainMissing: (missing: string[], flows: string[][]) => MxError,
): Promise<T> {
  let auth: AuthData | undefined;
  // Each round completes one stage; a server that keeps asking past its own flow is broken.
  for (let round = 0; round < 16; round++) {
    try {
      return await attempt(auth);
    } catch (error) {
      const state = uiaState(error);
      // A 401 without flows, or a stage answer the server rejected (it sets errcode), ends here.
      if (!state || (auth && (error as MatrixError).errcode)) throw error;
      const remaining = state.flows.map((flow) => flow.stages.filter((stage) => !state.completed.includes(stage)));
      const doable = remaining.find((stages) => stages.every((stage) => stage in handlers));
      if (!doable) {
        const missing = [...new Set(remaining.flat().filter((stage) => !(stage in handlers)))];
        throw explainMissing(missing, state.flows.map((flow) => flow.stages));
      }
      const stage = doable[0];
      if (stage === undefined) throw new MxError('the homeserver asked for auth it says is complete', ExitCode.failure);
      auth = { type: stage, ...(state.session ? { session: state.session } : {}), ...(await handlers[stage]!(state.params[stage])) };
    }
  }
  throw new MxError('the homeserver kept asking for more authentication', ExitCode.failure);
}

/** The m.login.password stage for a logged-in user, with the password read when asked for. */
export function passwordStage(userId: string, password: () => Promise<string>): Record<string, StageHandler> {
  return { 'm.login.password': async () => ({ identifier: { type: 'm.id.user', user: userId }, password: await password() }) };
}

/** The error for a server that wants auth mx cannot give for this action. */
export function explainMissingStages(action: string): (missing: string[], flows: string[][]) => MxError {
  return (missing, flows) =>
    new MxError(
      `${action} needs auth mx cannot complete (${missing.join(', ')}); the server offers: ${flows.map((f) => f.join(' + ')).join(' | ')}. ` +
        'mx can complete m.login.password; do this in a client that supports the others (e.g. Element)',
      ExitCode.forbidden,
    );
}
