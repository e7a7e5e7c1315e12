// Account set-up for test peers: registration and password login with plain fetch.
// (Creating the account is not what the peer is for; the SDK takes over once there is a token.)

export interface Session {
  userId: string;
  accessToken: string;
  deviceId: string;
}

async function post(url: string, body: unknown, accessToken?: string): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // Synapse answers 400 to a /register that carries an Authorization header.
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

/** Registers `username` with the m.login.dummy flow (open registration, as the test Synapse has). */
export async function registerAccount(
  homeserverUrl: string,
  username: string,
  password: string,
  opts: { deviceId?: string; deviceName?: string } = {},
): Promise<Session> {
  const url = `${homeserverUrl}/_matrix/client/v3/register`;
  const body: Record<string, unknown> = {
    username,
    password,
    initial_device_display_name: opts.deviceName ?? 'mx test peer',
    ...(opts.deviceId ? { device_id: opts.deviceId } : {}),
  };
  const first = await post(url, body);
  let answer = first;
  if (first.status === 401 && typeof first.json.session === 'string') {
    answer = await post(url, { ...body, auth: { type: 'm.login.dummy', session: first.json.session } });
  }
  if (answer.status !== 200) throw new Error(`register ${username}: HTTP ${answer.status} ${JSON.stringify(answer.json)}`);
  return { userId: answer.json.user_id, accessToken: answer.json.access_token, deviceId: answer.json.device_id };
}

/** Logs in with a password; a new device unless `deviceId` names an existing one. */
export async function loginWithPassword(
  homeserverUrl: string,
  user: string,
  password: string,
  opts: { deviceId?: string; deviceName?: string } = {},
): Promise<Session> {
  const answer = await post(`${homeserverUrl}/_matrix/client/v3/login`, {
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user },
    password,
    initial_device_display_name: opts.deviceName ?? 'mx test peer',
    ...(opts.deviceId ? { device_id: opts.deviceId } : {}),
  });
  if (answer.status !== 200) throw new Error(`login ${user}: HTTP ${answer.status} ${JSON.stringify(answer.json)}`);
  return { userId: answer.json.user_id, accessToken: answer.json.access_token, deviceId: answer.json.device_id };
}
