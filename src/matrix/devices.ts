/** Device management (spec: "Device Management"): the user's devices, their names, deleting them. */
import type { AuthData } from './account.js';
import { encodePath, matrixRequest, type MatrixClient } from './http.js';

const V3 = '/_matrix/client/v3';

/** spec: Device. */
export interface DeviceInfo {
  device_id: string;
  display_name?: string;
  last_seen_ip?: string;
  last_seen_ts?: number;
}

/** GET /devices: every device of the user. */
export async function getDevices(client: MatrixClient): Promise<DeviceInfo[]> {
  const answer = await matrixRequest<{ devices?: DeviceInfo[] }>(client, {
    method: 'GET', path: `${V3}/devices`, auth: true, idempotent: true, what: 'list devices',
  });
  return Array.isArray(answer.devices) ? answer.devices : [];
}

/** PUT /devices/{deviceId}: sets the device's display name. */
export async function renameDevice(client: MatrixClient, deviceId: string, displayName: string): Promise<void> {
  await matrixRequest(client, {
    method: 'PUT', path: V3 + encodePath`/devices/${deviceId}`, body: { display_name: displayName }, auth: true, idempotent: true,
    what: `rename device ${deviceId}`,
  });
}

/** POST /delete_devices (user-interactive auth): deletes the devices and logs them out. */
export async function deleteDevices(client: MatrixClient, deviceIds: string[], auth?: AuthData): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: `${V3}/delete_devices`, body: { devices: deviceIds, ...(auth ? { auth } : {}) }, auth: true, idempotent: true,
    what: 'delete devices',
  });
}
