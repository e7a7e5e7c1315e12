// The other side of the bench's encrypted rooms (bench/run.mjs, group `crypto`): a minimal
// Matrix client on the same crypto engine mx uses (@matrix-org/matrix-sdk-crypto-wasm, an
// OlmMachine), with the engine's in-memory store, speaking to the homeserver with undici. It
// uploads its device keys, queries and claims the members' keys, shares Megolm room keys over
// Olm to-device messages and sends m.room.encrypted events: what Element or another mx does,
// without a process start or a store on disk per message, so that the bench can send thousands
// of encrypted events at the rate the server takes them.
//
// Used in the bench's own process (CryptoPeer), and as a process of its own for the burst:
//   node bench/crypto-peer.mjs burst URL USER_ID DEVICE_ID TOKEN ROOM_ID MEMBERS COUNT CONCURRENCY
// (MEMBERS: user IDs, comma-separated) sends COUNT encrypted messages "burst 0".."burst N-1",
// CONCURRENCY PUTs in flight, and prints one JSON line {"sent", "ms", "sessions"}. The room key is
// rotated as the engine's default settings say (every 100 messages), so a reader gets new keys
// during the burst as it would from any client.
import { fileURLToPath } from 'node:url';
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { Agent, request } from 'undici';

const V3 = '/_matrix/client/v3';
const quiet = { debug() {}, info() {}, warn() {}, error: (e) => process.stderr.write(`crypto-peer: engine: ${e}\n`) };
let initialized;

export class CryptoPeer {
  /** A device of `userId` (made by the caller's login or registration) with a new identity. */
  static async create({ url, userId, deviceId, token, dispatcher }) {
    await (initialized ??= sdk.initAsync());
    const machine = await sdk.OlmMachine.initialize(new sdk.UserId(userId), new sdk.DeviceId(deviceId), undefined, undefined, quiet);
    const peer = new CryptoPeer(url, userId, token, machine, dispatcher ?? new Agent({ connections: 16, keepAliveTimeout: 30_000 }));
    await peer.flush(); // uploads the device keys and one-time keys
    return peer;
  }

  constructor(url, userId, token, machine, dispatcher) {
    this.url = url;
    this.userId = userId;
    this.token = token;
    this.machine = machine;
    this.dispatcher = dispatcher;
    this.txn = 0;
    this.sessions = 0;
    /** Users whose devices this peer has asked for (prepare). */
    this.known = new Set();
  }

  async call(method, path, body) {
    const res = await request(`${this.url}${path}`, {
      method,
      dispatcher: this.dispatcher,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`crypto peer: ${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 500)}`);
    return text;
  }

  /** One request of the engine, answered to it. */
  async send(req) {
    const T = sdk.RequestType;
    const e = encodeURIComponent;
    let text;
    switch (req.type) {
      case T.KeysUpload: text = await this.call('POST', `${V3}/keys/upload`, req.body); break;
      case T.KeysQuery: text = await this.call('POST', `${V3}/keys/query`, req.body); break;
      case T.KeysClaim: text = await this.call('POST', `${V3}/keys/claim`, req.body); break;
      case T.ToDevice: text = await this.call('PUT', `${V3}/sendToDevice/${e(req.event_type)}/${e(req.txn_id)}`, req.body); break;
      case T.SignatureUpload: text = await this.call('POST', `${V3}/keys/signatures/upload`, req.body); break;
      case T.RoomMessage: text = await this.call('PUT', `${V3}/rooms/${e(req.room_id)}/send/${e(req.event_type)}/${e(req.txn_id)}`, req.body); break;
      default: throw new Error(`crypto peer: unexpected request type ${req.type}`);
    }
    if (req.id !== undefined) await this.machine.markRequestAsSent(req.id, req.type, text);
  }

  /** Sends what the engine asks for until it asks for nothing. */
  async flush() {
    for (let round = 0; round < 10; round++) {
      const reqs = await this.machine.outgoingRequests();
      if (reqs.length === 0) return;
      for (const r of reqs) await this.send(r);
    }
  }

  /** Learns the members' devices and makes Olm sessions with them (key query and claim). */
  async prepare(members) {
    const users = members.map((u) => new sdk.UserId(u));
    await this.machine.updateTrackedUsers(users);
    await this.flush();
    const claim = await this.machine.getMissingSessions(members.map((u) => new sdk.UserId(u)));
    if (claim) await this.send(claim);
    for (const m of members) this.known.add(m);
  }

  /**
   * Shares the room key with the members' devices when it must (no key yet, rotation due, or
   * `newSession`: the current one is dropped first), after learning the devices of members not
   * seen before (prepare):
   * the to-device messages are sent before this resolves. Returns how many to-device requests
   * went out.
   */
  async share(roomId, members, { newSession = false } = {}) {
    if (!members.every((m) => this.known.has(m))) await this.prepare(members);
    const room = new sdk.RoomId(roomId);
    if (newSession) await this.machine.invalidateGroupSession(room);
    const reqs = await this.machine.shareRoomKey(room, members.map((u) => new sdk.UserId(u)), new sdk.EncryptionSettings());
    for (const r of reqs) await this.send(r);
    if (reqs.length) this.sessions++;
    return reqs.length;
  }

  /** The m.room.encrypted content of a text message (share() first). */
  async encrypt(roomId, body) {
    return this.machine.encryptRoomEvent(new sdk.RoomId(roomId), 'm.room.message', JSON.stringify({ msgtype: 'm.text', body }));
  }

  /** PUTs an encrypted content; resolves with the event ID. */
  async put(roomId, encryptedJson) {
    const txn = `peer${process.pid}-${Date.now().toString(36)}-${++this.txn}`;
    return JSON.parse(await this.call('PUT', `${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/${txn}`, encryptedJson)).event_id;
  }

  /** share + encrypt + PUT of one message. */
  async sendText(roomId, members, body, opts) {
    await this.share(roomId, members, opts);
    return this.put(roomId, await this.encrypt(roomId, body));
  }

  close() {
    this.machine.close();
  }
}

/** The burst: COUNT messages, encrypted in order, CONCURRENCY PUTs in flight. */
async function burst([url, userId, deviceId, token, roomId, membersCsv, countArg, concurrencyArg]) {
  const count = Number(countArg);
  const concurrency = Number(concurrencyArg);
  const members = membersCsv.split(',');
  const dispatcher = new Agent({ connections: concurrency + 2, keepAliveTimeout: 30_000 });
  const peer = await CryptoPeer.create({ url, userId, deviceId, token, dispatcher });
  await peer.prepare(members);
  const t0 = performance.now();
  // Encrypting runs ahead of the PUTs by a bounded queue; a key share (every 100 messages) is
  // sent before the first message encrypted with the new key is queued.
  const queue = [];
  let produced = 0;
  let producerWaits; // resolves when a worker took an item (the queue has room)
  const workersWait = []; // resolve when an item was queued (or the last one was)
  const producer = (async () => {
    for (let i = 0; i < count; i++) {
      while (queue.length >= 4 * concurrency) await new Promise((r) => (producerWaits = r));
      await peer.share(roomId, members);
      queue.push(await peer.encrypt(roomId, `burst ${i}`));
      produced++;
      for (const w of workersWait.splice(0)) w();
    }
  })();
  let sent = 0;
  const worker = async () => {
    for (;;) {
      if (queue.length === 0) {
        if (produced === count) return;
        await new Promise((r) => workersWait.push(r));
        continue;
      }
      const content = queue.shift();
      producerWaits?.();
      producerWaits = undefined;
      await peer.put(roomId, content);
      sent++;
    }
  };
  await Promise.all([producer, ...Array.from({ length: concurrency }, worker)]);
  process.stdout.write(`${JSON.stringify({ sent, ms: performance.now() - t0, sessions: peer.sessions })}\n`);
  peer.close();
  await dispatcher.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode !== 'burst') {
    process.stderr.write('usage: node bench/crypto-peer.mjs burst URL USER_ID DEVICE_ID TOKEN ROOM_ID MEMBERS COUNT CONCURRENCY\n');
    process.exit(2);
  }
  await burst(args);
}
