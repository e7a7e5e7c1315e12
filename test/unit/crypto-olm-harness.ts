/**
 * Drives real OlmMachines without a homeserver, for the crypto store tests: a stand-in server
 * answers key upload, query and claim from what the machines uploaded, and queues to-device
 * messages. Each machine gets fresh UserId objects per call (wasm-bindgen takes ownership of
 * objects passed in arrays).
 */
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';

export { sdk };

type Json = Record<string, any>;

export class FakeServer {
  private readonly deviceKeys = new Map<string, Json>();
  private readonly oneTimeKeys = new Map<string, [string, unknown][]>();
  private readonly toDevice = new Map<string, Json[]>();

  /** Runs the machine's outgoing-request loop until it has nothing more to send. */
  async drive(m: sdk.OlmMachine, user: string): Promise<void> {
    for (let round = 0; round < 10; round++) {
      const reqs = await m.outgoingRequests();
      if (reqs.length === 0) return;
      for (const r of reqs as { id: string; type: sdk.RequestType; body: string; event_type?: string }[]) {
        await m.markRequestAsSent(r.id, r.type, this.answer(r, user));
      }
    }
  }

  answer(r: { type: sdk.RequestType; body: string; event_type?: string }, user: string): string {
    const body = JSON.parse(r.body) as Json;
    switch (r.type) {
      case sdk.RequestType.KeysUpload: {
        // One device per user here: later uploads (one-time keys only) are that device's.
        if (body.device_keys) {
          const dk = body.device_keys as Json;
          this.deviceKeys.set(dk.user_id as string, { ...this.deviceKeys.get(dk.user_id as string), [dk.device_id as string]: dk });
        }
        const device = Object.keys(this.deviceKeys.get(user) ?? {})[0];
        const list = this.oneTimeKeys.get(`${user}|${device}`) ?? [];
        for (const entry of Object.entries((body.one_time_keys ?? {}) as Json)) list.push(entry);
        this.oneTimeKeys.set(`${user}|${device}`, list);
        return JSON.stringify({ one_time_key_counts: { signed_curve25519: list.length } });
      }
      case sdk.RequestType.KeysQuery: {
        const out: Json = {};
        for (const u of Object.keys(body.device_keys as Json)) out[u] = this.deviceKeys.get(u) ?? {};
        return JSON.stringify({ device_keys: out, failures: {} });
      }
      case sdk.RequestType.KeysClaim: {
        const out: Json = {};
        for (const [u, devices] of Object.entries(body.one_time_keys as Json)) {
          out[u] = {};
          for (const d of Object.keys(devices as Json)) {
            const k = this.oneTimeKeys.get(`${u}|${d}`)?.shift();
            if (k) out[u][d] = { [k[0]]: k[1] };
          }
        }
        return JSON.stringify({ one_time_keys: out, failures: {} });
      }
      case sdk.RequestType.ToDevice: {
        for (const [u, devices] of Object.entries(body.messages as Json)) {
          for (const [d, content] of Object.entries(devices as Json)) {
            const k = `${u}|${d}`;
            this.toDevice.set(k, [...(this.toDevice.get(k) ?? []), { type: r.event_type, sender: user, content }]);
          }
        }
        return '{}';
      }
      default:
        return '{}';
    }
  }

  takeToDevice(user: string, device: string): Json[] {
    const k = `${user}|${device}`;
    const list = this.toDevice.get(k) ?? [];
    this.toDevice.set(k, []);
    return list;
  }

  oneTimeKeyCount(user: string, device: string): number {
    return this.oneTimeKeys.get(`${user}|${device}`)?.length ?? 0;
  }
}

export async function openMachine(storeName: string, user: string, device: string, key: Uint8Array): Promise<sdk.OlmMachine> {
  const handle = await sdk.StoreHandle.openWithKey(storeName, key);
  try {
    return await sdk.OlmMachine.initFromStore(new sdk.UserId(user), new sdk.DeviceId(device), handle);
  } finally {
    handle.free();
  }
}

/** Delivers the to-device messages queued for this device (what a /sync would bring). */
export async function receive(m: sdk.OlmMachine, server: FakeServer, user: string, device: string): Promise<void> {
  const events = server.takeToDevice(user, device);
  await m.receiveSyncChanges(
    JSON.stringify(events),
    new sdk.DeviceLists(),
    new Map([['signed_curve25519', server.oneTimeKeyCount(user, device)]]),
    new Set(),
  );
}

/** Tracks the members, claims one-time keys, shares the room key: what `mx send` does first. */
export async function shareRoomKey(
  m: sdk.OlmMachine,
  server: FakeServer,
  user: string,
  roomId: string,
  members: string[],
  settings = new sdk.EncryptionSettings(),
): Promise<void> {
  const ids = () => members.map((u) => new sdk.UserId(u));
  await m.updateTrackedUsers(ids());
  await server.drive(m, user);
  const claim = await m.getMissingSessions(ids());
  if (claim) await m.markRequestAsSent(claim.id, claim.type, server.answer(claim, user));
  for (const r of await m.shareRoomKey(new sdk.RoomId(roomId), ids(), settings)) {
    const req = r as { id: string; type: sdk.RequestType; body: string; event_type: string };
    await m.markRequestAsSent(req.id, req.type, server.answer(req, user));
  }
}

export async function encrypt(m: sdk.OlmMachine, roomId: string, body: string): Promise<Json> {
  return JSON.parse(await m.encryptRoomEvent(new sdk.RoomId(roomId), 'm.room.message', JSON.stringify({ msgtype: 'm.text', body }))) as Json;
}

let eventCounter = 0;
export async function decrypt(m: sdk.OlmMachine, roomId: string, sender: string, content: Json): Promise<Json> {
  const event = { type: 'm.room.encrypted', sender, event_id: `$e${++eventCounter}`, origin_server_ts: Date.now(), room_id: roomId, content };
  const res = await m.decryptRoomEvent(JSON.stringify(event), new sdk.RoomId(roomId), new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted));
  return JSON.parse(res.event) as Json;
}

/**
 * The message index of a Megolm ciphertext: after the version byte (3), field 1 of the payload
 * is the index as a protobuf varint.
 */
export function megolmIndex(content: Json): number {
  const bytes = Buffer.from(content.ciphertext as string, 'base64');
  if (bytes[0] !== 3 || bytes[1] !== 0x08) throw new Error('not a Megolm v3 message');
  let value = 0;
  for (let i = 2, shift = 0; ; i++, shift += 7) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if (!(bytes[i]! & 0x80)) return value;
  }
}
