/** Account endpoints: register, login, logout, whoami (spec: Client-Server API, "Client Authentication"). */
import { encodePath, matrixRequest, type MatrixClient } from './http.js';
import { requireStrings } from './shape.js';

const V3 = '/_matrix/client/v3';

export interface LoginFlow {
  type: string;
}

export interface Session {
  user_id: string;
  access_token: string;
  device_id: string;
  /** When login or register asked for one (`refresh_token: true`) and the server gives expiring tokens. */
  refresh_token?: string;
  expires_in_ms?: number;
  well_known?: { 'm.homeserver'?: { base_url?: string } };
}

/** Auth data for one user-interactive auth stage. */
export interface AuthData {
  type: string;
  session?: string;
  [key: string]: unknown;
}

export interface RegisterRequest {
  username?: string;
  password?: string;
  initial_device_display_name?: string;
  device_id?: string;
  /** Ask for a refresh token (spec v1.3): the server may then give an access token that expires. */
  refresh_token?: boolean;
  auth?: AuthData;
}

/** GET /login: the login types this server offers. */
export async function getLoginFlows(client: MatrixClient): Promise<LoginFlow[]> {
  const answer = await matrixRequest<{ flows?: unknown }>(client, {
    method: 'GET', path: `${V3}/login`, auth: false, idempotent: true, what: 'list login flows',
  });
  return Array.isArray(answer.flows) ? (answer.flows as LoginFlow[]) : [];
}

/** POST /login. Not idempotent: each success creates a device and a token. */
export async function login(client: MatrixClient, body: Record<string, unknown>): Promise<Session> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: `${V3}/login`, body, auth: false, idempotent: false, what: 'login',
  });
  return requireStrings(answer, ['user_id', 'access_token', 'device_id'], 'login') as unknown as Session;
}

/**
 * POST /register (one step of user-interactive auth). A 401 answer that carries `flows` is
 * the server asking for (more) auth, thrown as MatrixError with the UIA state in `body`.
 */
export async function register(client: MatrixClient, body: RegisterRequest, kind: 'user' | 'guest' = 'user'): Promise<Session> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: `${V3}/register`, query: { kind }, body, auth: false, idempotent: false, what: 'register',
  });
  return requireStrings(answer, ['user_id', 'access_token', 'device_id'], 'register') as unknown as Session;
}

/** GET /account/whoami. */
export async function getTokenOwner(
  client: MatrixClient,
): Promise<{ user_id: string; device_id?: string; is_guest?: boolean }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'GET', path: `${V3}/account/whoami`, auth: true, idempotent: true, what: 'whoami',
  });
  return requireStrings(answer, ['user_id'], 'whoami') as unknown as { user_id: string; device_id?: string; is_guest?: boolean };
}

/** POST /logout, or /logout/all for every device. Repeating it is harmless. */
export async function logout(client: MatrixClient, all: boolean): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: `${V3}/logout${all ? '/all' : ''}`, body: {}, auth: true, idempotent: true, what: 'logout',
  });
}

/** GET /profile/{userId}/{field} (displayname, avatar_url): undefined when unset. */
export async function getProfileField(client: MatrixClient, userId: string, field: 'displayname' | 'avatar_url'): Promise<string | undefined> {
  try {
    const answer = await matrixRequest<Record<string, unknown>>(client, {
      method: 'GET', path: V3 + encodePath`/profile/${userId}/${field}`, auth: true, idempotent: true, what: `read ${field} of ${userId}`,
    });
    return typeof answer[field] === 'string' ? (answer[field] as string) : undefined;
  } catch (error) {
    if ((error as { errcode?: string }).errcode === 'M_NOT_FOUND') return undefined;
    throw error;
  }
}

/** PUT /profile/{userId}/{field}. */
export async function setProfileField(client: MatrixClient, userId: string, field: 'displayname' | 'avatar_url', value: string): Promise<void> {
  await matrixRequest(client, {
    method: 'PUT', path: V3 + encodePath`/profile/${userId}/${field}`, body: { [field]: value }, auth: true, idempotent: true, what: `set ${field}`,
  });
}

/** POST /user_directory/search: users the server's directory finds for the term. */
export async function searchUserDirectory(client: MatrixClient, term: string, limit: number): Promise<{ results: { user_id: string; display_name?: string; avatar_url?: string }[]; limited: boolean }> {
  const answer = await matrixRequest<{ results?: unknown; limited?: unknown }>(client, {
    method: 'POST', path: `${V3}/user_directory/search`, body: { search_term: term, limit }, auth: true, idempotent: true, what: 'search the user directory',
  });
  return { results: Array.isArray(answer.results) ? (answer.results as { user_id: string }[]) : [], limited: answer.limited === true };
}

/** What POST /refresh answers: a new access token (and, usually, a new refresh token: the old one is used up). */
export interface Refreshed {
  access_token: string;
  refresh_token?: string;
  expires_in_ms?: number;
}

/** POST /refresh: trades a refresh token for a new access token. Never retried blindly: a refresh token is single-use. */
export async function refreshAccessToken(client: MatrixClient, refreshToken: string): Promise<Refreshed> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: `${V3}/refresh`, body: { refresh_token: refreshToken }, auth: false, idempotent: false, what: 'refresh the access token',
  });
  return requireStrings(answer, ['access_token'], 'refresh the access token') as unknown as Refreshed;
}
