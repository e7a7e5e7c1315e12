// The test peer: a matrix-js-sdk client with Rust crypto, driven from vitest. See index.ts
// for why it exists, how it is set up, and the traps met on the way.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ClientEvent,
  createClient,
  Method,
  EventStatus,
  HistoryVisibility,
  Preset,
  RoomEvent,
  SyncState,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from 'matrix-js-sdk';
import {
  CryptoEvent,
  EventShieldColour,
  EventShieldReason,
  OnlySignedDevicesIsolationMode,
  type CryptoApi,
  type DecryptionFailureCode,
  type VerificationRequest,
} from 'matrix-js-sdk/lib/crypto-api/index.js';
import { decodeRecoveryKey } from 'matrix-js-sdk/lib/crypto-api/recovery-key.js';
import { loginWithPassword, registerAccount, type Session } from './account.js';
import { downloadAndDecrypt, encryptAndUpload, type EncryptedFile } from './attachments.js';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import { PeerLog, printLevel, quietGlobalLogger, sdkLog } from './logger.js';
import { pollFor } from './poll.js';
import { unrefLongSdkTimers } from './timers.js';
import { PeerVerification } from './verification.js';

export const MEGOLM = 'm.megolm.v1.aes-sha2';

export interface StartPeerOptions {
  homeserverUrl: string;
  /**
   * Log in as this user (localpart or full ID) with `password`, as a new device (or `deviceId`).
   * Without `user`, a fresh account is registered (localpart `username` or a random one).
   */
  user?: string;
  password?: string;
  /** Localpart for registration when `user` is not given; default `peer-<random>`. */
  username?: string;
  deviceId?: string;
  /** Device display name; default "mx test peer". */
  deviceName?: string;
  /** How long start-up (login, crypto, first sync, key upload) may take; default 20 000 ms. */
  timeoutMs?: number;
  /**
   * Behave as Element does today (index.ts says what that is): share room keys only with
   * devices their owner cross-signed, refuse messages from the others, and be cross-signed
   * itself: a new account sets up recovery (`peer.recoveryKey`), a login recovers with
   * `recoveryKey`.
   */
  asElement?: boolean;
  /** With `asElement` and `user`: the account's recovery key, to verify the new device with. */
  recoveryKey?: string;
}

/** A decrypted room event, as plain data (clear type and clear content). */
export interface DecryptedMessage {
  event_id: string;
  sender: string;
  /** The clear (decrypted) event type, e.g. m.room.message. */
  type: string;
  /** The clear content (of this event itself: edits are not applied). */
  content: Record<string, any>;
  origin_server_ts: number;
  /** The Megolm algorithm of the wire event (m.megolm.v1.aes-sha2). */
  algorithm: string;
  /** The sending device, found from the Curve25519 key that the decryption authenticated. */
  sender_device?: string;
  /** Whether this peer considers the sending device verified. */
  verified?: boolean;
  /** The shield Element would show: colour and reason (null when none). */
  shield?: { colour: 'none' | 'grey' | 'red'; reason: string | null };
}

/** Any non-state timeline event the peer has seen, with what became of it. */
export interface SeenEvent {
  event_id: string;
  sender: string;
  /** Type on the wire: m.room.encrypted for encrypted events. */
  wire_type: string;
  /** decrypted | undecryptable | pending (decryption not finished) | plaintext (not encrypted at all). */
  status: 'decrypted' | 'undecryptable' | 'pending' | 'plaintext';
  /** Sent by this peer's own device (its own echo). */
  own: boolean;
  type: string;
  content: Record<string, any>;
  /** For undecryptable events: the SDK's DecryptionFailureCode and message. */
  failure?: string;
  /** For undecryptable events: the SDK's DecryptionFailureCode alone. */
  failure_code?: `${DecryptionFailureCode}`;
}

export type MessageMatcher = number | ((message: DecryptedMessage) => boolean);

/** Request options for the SDK's raw requests under /_matrix/client/v3. (IRequestOpts inherits a 'priority' that Node's RequestInit types make required.) */
const V3_PREFIX = { prefix: '/_matrix/client/v3' } as Parameters<MatrixClient['http']['authedRequest']>[4];

let tracingPatched = false;
/**
 * matrix-js-sdk's initRustCrypto runs `new Tracing(LoggerLevel.Debug).turnOn()` (Rust tracing
 * to console.debug, a process-wide singleton), which would print a page per peer into the test
 * output. Wrap Tracing.prototype.turnOn of the engine module the SDK loads (its own copy, an
 * older version than mx's, when npm could not share one) so that it applies MX_PEER_LOG's level
 * instead, or turns tracing off (the default).
 */
async function tameRustTracing(): Promise<void> {
  if (tracingPatched) return;
  tracingPatched = true;
  const { LoggerLevel, Tracing } = await jsSdkRustCrypto();
  const level = printLevel();
  const levels = [LoggerLevel.Trace, LoggerLevel.Debug, LoggerLevel.Info, LoggerLevel.Warn, LoggerLevel.Error];
  const turnOn = Tracing.prototype.turnOn;
  Tracing.prototype.turnOn = function (this: InstanceType<typeof Tracing>) {
    if (level >= levels.length) return this.turnOff();
    this.minLevel = levels[level]!;
    return turnOn.call(this);
  };
}

/** The crypto engine module instance matrix-js-sdk imports (the ES module entry it resolves to). */
async function jsSdkRustCrypto(): Promise<typeof import('@matrix-org/matrix-sdk-crypto-wasm')> {
  const sdkDir = path.dirname(createRequire(import.meta.url).resolve('matrix-js-sdk/package.json'));
  const own = path.join(sdkDir, 'node_modules', '@matrix-org', 'matrix-sdk-crypto-wasm', 'node.mjs');
  return existsSync(own) ? ((await import(pathToFileURL(own).href)) as typeof import('@matrix-org/matrix-sdk-crypto-wasm')) : import('@matrix-org/matrix-sdk-crypto-wasm');
}

export class Peer {
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
  readonly homeserverUrl: string;
  readonly client: MatrixClient;
  /** The password, when the peer knows it (for a second device, cross-signing set-up). */
  readonly password: string | undefined;
  /** The account's recovery key, once setUpRecovery() made it or recoverWith() was given it. */
  recoveryKey: string | undefined;
  readonly log: PeerLog;

  private readonly seen = new Map<string, MatrixEvent[]>();
  private readonly sentEventIds = new Set<string>();
  private readonly deviceCache = new Map<string, { sender_device?: string; verified?: boolean }>();
  /** The secret storage key the SDK is given when it asks (setUpRecovery, recoverWith). */
  private secretStorageKey: Uint8Array | undefined;
  private stopped = false;
  private inFlight = 0;
  /** Sends (room events, to-device messages) in flight: settleSends() waits for them. */
  private readonly sends = new Set<Promise<unknown>>();
  /** Verification requests others sent to this peer, in arrival order; `taken` once a wait returned them. */
  private readonly incomingVerifications: { verification: PeerVerification; taken: boolean }[] = [];
  private syncState: string | null = null;

  /** Use startPeer(). */
  constructor(homeserverUrl: string, session: Session, password: string | undefined) {
    quietGlobalLogger(sdkGlobalLogger);
    unrefLongSdkTimers();
    this.homeserverUrl = homeserverUrl;
    this.userId = session.userId;
    this.deviceId = session.deviceId;
    this.accessToken = session.accessToken;
    this.password = password;
    this.log = new PeerLog(`${session.userId}/${session.deviceId}`);
    this.client = createClient({
      baseUrl: homeserverUrl,
      userId: session.userId,
      deviceId: session.deviceId,
      accessToken: session.accessToken,
      logger: this.log.logger(),
      // What Element asks the user for: the recovery key, when the SDK needs secret storage.
      cryptoCallbacks: {
        getSecretStorageKey: async ({ keys }) => {
          const keyId = Object.keys(keys)[0];
          return this.secretStorageKey && keyId ? [keyId, this.secretStorageKey] : null;
        },
      },
      // Counts requests in flight, so that stop() can wait for the aborted ones to settle.
      fetchFn: (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        this.inFlight++;
        const answer = globalThis.fetch(input, init).finally(() => this.inFlight--);
        if (/\/(send|sendToDevice)\//.test(String(input))) {
          const settled = answer.catch(() => undefined);
          this.sends.add(settled);
          void settled.finally(() => this.sends.delete(settled));
        }
        return answer;
      },
    });
    this.client.on(RoomEvent.Timeline, (event: MatrixEvent, room: Room | undefined) => {
      if (!room || event.isState()) return;
      let list = this.seen.get(room.roomId);
      if (!list) this.seen.set(room.roomId, (list = []));
      if (!list.includes(event)) list.push(event);
    });
    this.client.on(ClientEvent.Sync, (state: SyncState) => {
      this.syncState = state;
    });
    this.client.on(CryptoEvent.VerificationRequestReceived, (request: VerificationRequest) => {
      const known = this.incomingVerifications.some(({ verification: v }) => v.flowId === request.transactionId && v.otherUserId === request.otherUserId);
      if (!known) this.incomingVerifications.push({ verification: new PeerVerification(this, request), taken: false });
    });
  }

  /** The CryptoApi of the client (Rust crypto). */
  get crypto(): CryptoApi {
    const crypto = this.client.getCrypto();
    if (!crypto) throw new Error('crypto is not initialised');
    return crypto;
  }

  /** @internal: crypto, first sync, own device keys on the server. */
  async start(timeoutMs: number, opts: { onlySignedDevices: boolean }): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // In memory: nothing on disk, nothing shared between peers, gone at stop().
    await this.client.initRustCrypto({ useIndexedDB: false });
    // Before the first sync, so that no event is decrypted under the SDK's default mode.
    if (opts.onlySignedDevices) this.crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
    // No lazy loading (all members come with the sync), no threads (every event in the main timeline).
    await this.client.startClient({ initialSyncLimit: 50, lazyLoadMembers: false, threadSupport: false });
    // The first sync is done at PREPARED; in ERROR the SDK keeps retrying until the deadline.
    await pollFor(
      () => (this.syncState === SyncState.Prepared || this.syncState === SyncState.Syncing ? true : undefined),
      Math.max(0, deadline - Date.now()),
      () => `peer ${this.userId}: first sync not done after ${timeoutMs} ms (sync state ${this.syncState})\n${this.log.recentProblems().join('\n')}`,
    );
    // Others can only encrypt for this device once its keys are on the server.
    await pollFor(
      async () => {
        const answer = await this.client.downloadKeysForUsers([this.userId]);
        return answer.device_keys?.[this.userId]?.[this.deviceId] ? true : undefined;
      },
      Math.max(1000, deadline - Date.now()),
      () => `peer ${this.userId}: device ${this.deviceId} has no keys on the server after ${timeoutMs} ms\n${this.log.recentProblems().join('\n')}`,
    );
  }

  /**
   * Stops syncing and the crypto machine, aborts the requests in flight and waits (up to 2 s)
   * until they have settled, so that nothing of this peer runs on after the test; idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.client.stopClient();
    this.client.http.abort();
    const deadline = Date.now() + 2000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    // One more turn for the sync loop to see the abort and exit.
    await new Promise((resolve) => setImmediate(resolve));
    this.client.removeAllListeners();
  }

  // ---- rooms ----------------------------------------------------------------------------

  /** The room as the client knows it (after sync), or throws. */
  room(roomId: string): Room {
    const room = this.client.getRoom(roomId);
    if (!room) throw new Error(`peer ${this.userId} does not know room ${roomId} (yet)`);
    return room;
  }

  /** Waits until the client's sync has delivered the room (and, with `encrypted`, its m.room.encryption). */
  async waitForRoom(roomId: string, opts: { encrypted?: boolean; timeoutMs?: number } = {}): Promise<Room> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return pollFor(
      async () => {
        const room = this.client.getRoom(roomId);
        if (!room) return undefined;
        if (opts.encrypted && !(await this.crypto.isEncryptionEnabledInRoom(roomId))) return undefined;
        return room;
      },
      timeoutMs,
      () => `peer ${this.userId}: room ${roomId} ${this.client.getRoom(roomId) ? 'not encrypted' : 'not synced'} after ${timeoutMs} ms`,
    );
  }

  /**
   * Creates a room as Element does for a private encrypted room: preset private_chat,
   * m.room.encryption (m.megolm.v1.aes-sha2) in the initial state; history visibility
   * `shared` unless told. Resolves once the peer's sync has the room, so that sends encrypt.
   */
  async createEncryptedRoom(opts: { invite?: string[]; name?: string; historyVisibility?: `${HistoryVisibility}`; isDirect?: boolean } = {}): Promise<string> {
    const initial_state = [{ type: 'm.room.encryption', state_key: '', content: { algorithm: MEGOLM } }];
    if (opts.historyVisibility) initial_state.push({ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: opts.historyVisibility } as any });
    const { room_id } = await this.client.createRoom({
      preset: Preset.PrivateChat,
      invite: opts.invite ?? [],
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.isDirect ? { is_direct: true } : {}),
      initial_state,
    });
    await this.waitForRoom(room_id, { encrypted: true });
    return room_id;
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.client.invite(roomId, userId);
  }

  /** Joins and waits until the sync has the room with this user joined; returns the room ID. */
  async joinRoom(roomIdOrAlias: string, timeoutMs = 10_000): Promise<string> {
    const room = await this.client.joinRoom(roomIdOrAlias);
    await this.waitForMembership(room.roomId, this.userId, 'join', timeoutMs);
    return room.roomId;
  }

  async leaveRoom(roomId: string): Promise<void> {
    await this.client.leave(roomId);
  }

  /** Waits until the peer's view of the room has `userId` with this membership. */
  async waitForMembership(roomId: string, userId: string, membership: 'join' | 'invite' | 'leave' | 'ban' | 'knock' = 'join', timeoutMs = 10_000): Promise<void> {
    await pollFor(
      () => (this.client.getRoom(roomId)?.getMember(userId)?.membership === membership ? true : undefined),
      timeoutMs,
      () => `peer ${this.userId}: ${userId} is not '${membership}' in ${roomId} after ${timeoutMs} ms (is: ${this.client.getRoom(roomId)?.getMember(userId)?.membership ?? 'unknown'})`,
    );
  }

  async setHistoryVisibility(roomId: string, visibility: `${HistoryVisibility}`): Promise<void> {
    await this.client.sendStateEvent(roomId, 'm.room.history_visibility' as any, { history_visibility: visibility } as any, '');
  }

  /** Sends m.room.encryption into an existing room (turning encryption on, as Element's room settings do). */
  async enableEncryption(roomId: string): Promise<void> {
    await this.client.sendStateEvent(roomId, 'm.room.encryption' as any, { algorithm: MEGOLM } as any, '');
    await this.waitForRoom(roomId, { encrypted: true });
  }

  // ---- sending --------------------------------------------------------------------------

  /**
   * Sends an m.room.message (or another type) through the SDK, which encrypts it. Refuses
   * unless the room is known and encrypted: for a room it has not synced yet the SDK sends
   * in the clear without a word.
   */
  async sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    await this.waitForRoom(roomId, { encrypted: true });
    const answer = await this.client.sendEvent(roomId, type as any, content as any);
    this.sentEventIds.add(answer.event_id);
    return answer.event_id;
  }

  sendText(roomId: string, body: string): Promise<string> {
    return this.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body });
  }

  sendHtml(roomId: string, body: string, html: string): Promise<string> {
    return this.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body, format: 'org.matrix.custom.html', formatted_body: html });
  }

  /** Encrypts and uploads `bytes`, then sends an encrypted m.file (or msgtype) message with `file`. */
  async sendEncryptedFile(
    roomId: string,
    bytes: Uint8Array,
    opts: { name?: string; mimetype?: string; msgtype?: 'm.file' | 'm.image' | 'm.audio' | 'm.video' } = {},
  ): Promise<{ eventId: string; file: EncryptedFile }> {
    const file = await encryptAndUpload(this.homeserverUrl, this.accessToken, bytes);
    const content = {
      msgtype: opts.msgtype ?? 'm.file',
      body: opts.name ?? 'file.bin',
      info: { mimetype: opts.mimetype ?? 'application/octet-stream', size: bytes.byteLength },
      file,
    };
    return { eventId: await this.sendEvent(roomId, 'm.room.message', content), file };
  }

  /**
   * Sends an event of any type into the room as is, in the clear: past the SDK, which would
   * encrypt it (or refuse). For hostile-peer tests. Returns the event ID.
   */
  async sendRawRoomEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    const txnId = `raw-${randomBytes(8).toString('hex')}`;
    const path = `/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${txnId}`;
    const { event_id } = await this.client.http.authedRequest<{ event_id: string }>(Method.Put, path, undefined, content, V3_PREFIX);
    this.sentEventIds.add(event_id);
    return event_id;
  }

  /** Sends one unencrypted to-device message (PUT /sendToDevice), `deviceId` '*' for all the user's devices. For hostile-peer tests. */
  async sendRawToDevice(userId: string, deviceId: string, type: string, content: Record<string, unknown>): Promise<void> {
    await this.client.sendToDevice(type, new Map([[userId, new Map([[deviceId, content]])]]));
  }

  /** Waits until every send (room event, to-device message) in flight has its answer; for the SDK's sends it does not await. */
  async settleSends(): Promise<void> {
    // One turn first: the SDK starts some sends after the call that caused them returned.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.sends.size > 0) await Promise.all([...this.sends]);
  }

  // ---- receiving ------------------------------------------------------------------------

  private isOwn(event: MatrixEvent): boolean {
    if (event.getSender() !== this.userId) return false;
    return event.status !== null || Boolean(event.getTxnId()) || Boolean(event.getUnsigned().transaction_id) || this.sentEventIds.has(event.getId() ?? '');
  }

  /** Every non-state event the peer has seen in the room, oldest first, and what became of it. */
  seenEvents(roomId: string): SeenEvent[] {
    return (this.seen.get(roomId) ?? [])
      .filter((e) => e.status === null || e.status === EventStatus.SENT)
      .map((e) => {
        const encrypted = e.isEncrypted();
        const status: SeenEvent['status'] = !encrypted
          ? 'plaintext'
          : e.isDecryptionFailure()
            ? 'undecryptable'
            : e.isBeingDecrypted() || e.getClearContent() === null
              ? 'pending'
              : 'decrypted';
        const seen: SeenEvent = {
          event_id: e.getId() ?? '(no id)',
          sender: e.getSender() ?? '',
          wire_type: e.getWireType(),
          status,
          own: this.isOwn(e),
          type: e.getType(),
          content: (encrypted ? e.getClearContent() : e.getContent()) ?? e.getWireContent(),
        };
        if (status === 'undecryptable') {
          seen.failure = `${e.decryptionFailureReason}: ${e.getContent().body ?? ''}`;
          if (e.decryptionFailureReason) seen.failure_code = e.decryptionFailureReason;
        }
        return seen;
      });
  }

  private async describeSender(event: MatrixEvent): Promise<{ sender_device?: string; verified?: boolean }> {
    const id = event.getId()!;
    const cached = this.deviceCache.get(id);
    if (cached) return cached;
    const sender = event.getSender()!;
    const senderKey = event.getSenderKey();
    let deviceId: string | undefined;
    const devices = (await this.crypto.getUserDeviceInfo([sender])).get(sender);
    for (const [id, device] of devices ?? []) if (senderKey && device.getIdentityKey() === senderKey) deviceId = id;
    const result: { sender_device?: string; verified?: boolean } = {};
    if (deviceId) {
      result.sender_device = deviceId;
      result.verified = (await this.crypto.getDeviceVerificationStatus(sender, deviceId))?.isVerified() ?? false;
      this.deviceCache.set(id, result);
    }
    return result;
  }

  private async toMessage(event: MatrixEvent): Promise<DecryptedMessage> {
    const message: DecryptedMessage = {
      event_id: event.getId()!,
      sender: event.getSender()!,
      type: event.getType(),
      content: event.getClearContent() ?? {},
      origin_server_ts: event.getTs(),
      algorithm: event.getWireContent().algorithm,
      ...(await this.describeSender(event)),
    };
    const info = await this.crypto.getEncryptionInfoForEvent(event);
    if (info) {
      message.shield = {
        colour: EventShieldColour[info.shieldColour]!.toLowerCase() as 'none' | 'grey' | 'red',
        reason: info.shieldReason === null ? null : EventShieldReason[info.shieldReason]!,
      };
    }
    return message;
  }

  /** The events from others that the peer has decrypted so far in the room, oldest first. */
  async decryptedMessages(roomId: string): Promise<DecryptedMessage[]> {
    const events = (this.seen.get(roomId) ?? []).filter((e) => e.isEncrypted() && !e.isDecryptionFailure() && !e.isBeingDecrypted() && e.getClearContent() !== null && !this.isOwn(e));
    return Promise.all(events.map((e) => this.toMessage(e)));
  }

  /**
   * Waits until the peer has decrypted `count` events from others (own echoes do not count)
   * in the room, or at least one matching `predicate`; resolves with all decrypted events
   * (with a predicate: the matching ones). On timeout it throws, listing every event that
   * arrived: undecryptable ones with the SDK's failure code, plaintext ones, pending ones.
   */
  async waitForDecryptedMessages(roomId: string, match: MessageMatcher, timeoutMs = 10_000): Promise<DecryptedMessage[]> {
    const what = typeof match === 'number' ? `${match} decrypted event(s)` : 'a decrypted event matching the predicate';
    return pollFor(
      async () => {
        const messages = await this.decryptedMessages(roomId);
        if (typeof match === 'number') return messages.length >= match ? messages : undefined;
        const hits = messages.filter(match);
        return hits.length > 0 ? hits : undefined;
      },
      timeoutMs,
      () => this.describeRoom(roomId, `peer ${this.userId}/${this.deviceId}: timed out after ${timeoutMs} ms waiting for ${what} in ${roomId}`),
    );
  }

  /**
   * Waits until the peer has the event and could not decrypt it for `code` (the SDK's
   * DecryptionFailureCode); resolves with what it saw. How a test checks that Element refuses a
   * message: UNSIGNED_SENDER_DEVICE for a device its owner did not cross-sign (with `asElement`).
   * The code, not any failure, is waited for: an event is undecryptable for want of its key
   * until the key comes, and only then for what the key told.
   */
  async waitForUndecryptable(roomId: string, eventId: string, code: `${DecryptionFailureCode}`, timeoutMs = 10_000): Promise<SeenEvent> {
    return pollFor(
      () => this.seenEvents(roomId).find((e) => e.event_id === eventId && e.failure_code === code),
      timeoutMs,
      () => this.describeRoom(roomId, `peer ${this.userId}/${this.deviceId}: timed out after ${timeoutMs} ms waiting for ${eventId} to be undecryptable with ${code} in ${roomId}`),
    );
  }

  /** A readable account of what arrived in the room, for failure messages. */
  describeRoom(roomId: string, headline: string): string {
    const events = this.seenEvents(roomId);
    const lines = events.map((e) => {
      const who = `${e.sender}${e.own ? ' (own)' : ''}`;
      if (e.status === 'undecryptable') return `  ${e.event_id} ${who} UNDECRYPTABLE ${e.failure}`;
      if (e.status === 'pending') return `  ${e.event_id} ${who} pending decryption`;
      return `  ${e.event_id} ${who} ${e.status} ${e.type} ${JSON.stringify(e.content).slice(0, 200)}`;
    });
    const problems = [...this.log.recentProblems(), ...sdkLog.recentProblems(5)];
    return [
      headline,
      `arrived (${events.length}):`,
      ...(lines.length ? lines : ['  (nothing)']),
      ...(problems.length ? ['recent SDK warnings/errors:', ...problems.map((p) => `  ${p}`)] : []),
    ].join('\n');
  }

  /** Downloads an encrypted attachment (`content.file`, via the authenticated media API) and decrypts it. */
  downloadAndDecryptAttachment(contentOrFile: { file?: EncryptedFile } | EncryptedFile): Promise<Uint8Array> {
    return downloadAndDecrypt(this.homeserverUrl, this.accessToken, contentOrFile);
  }

  // ---- devices and trust ----------------------------------------------------------------

  /**
   * Logs the same user in again as another device (needs the password) and starts it; with
   * `asElement`, verified with this peer's recovery key.
   */
  startAnotherDevice(opts: { deviceId?: string; deviceName?: string; timeoutMs?: number; asElement?: boolean } = {}): Promise<Peer> {
    if (!this.password) throw new Error(`peer ${this.userId} has no password to log in another device`);
    const recovery = opts.asElement && this.recoveryKey ? { recoveryKey: this.recoveryKey } : {};
    return startPeer({ homeserverUrl: this.homeserverUrl, user: this.userId, password: this.password, ...recovery, ...opts });
  }

  /**
   * Waits until this peer's crypto knows `deviceId` of `userId`. A sender encrypts only for the
   * devices it knows: after another device logs in (an mx login, a second peer device), wait
   * for this before sending to it, or the message is undecryptable there.
   */
  async waitForDevice(userId: string, deviceId: string, timeoutMs = 10_000): Promise<void> {
    await pollFor(
      async () => ((await this.crypto.getUserDeviceInfo([userId], true)).get(userId)?.has(deviceId) ? true : undefined),
      timeoutMs,
      async () => {
        const known = [...((await this.crypto.getUserDeviceInfo([userId])).get(userId)?.keys() ?? [])];
        return `peer ${this.userId}: does not know device ${deviceId} of ${userId} after ${timeoutMs} ms (knows: ${known.join(', ') || 'none'})`;
      },
    );
  }

  /** The devices the server lists for a user, fetched now: device ID → Curve25519 key. */
  async serverDevices(userId: string): Promise<Map<string, string | undefined>> {
    const answer = await this.client.downloadKeysForUsers([userId]);
    const out = new Map<string, string | undefined>();
    for (const [id, keys] of Object.entries(answer.device_keys?.[userId] ?? {})) out.set(id, (keys as any).keys?.[`curve25519:${id}`]);
    return out;
  }

  /**
   * Sets up cross-signing for this user (as Element does at first login), authorising the
   * key upload with the password if the server asks for it.
   */
  async bootstrapCrossSigning(): Promise<void> {
    await this.crypto.bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: (makeRequest) => this.authorise(makeRequest) });
  }

  private async authorise(makeRequest: (auth: any) => Promise<unknown>): Promise<void> {
    await makeRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: this.userId }, password: this.password });
  }

  /**
   * Element's "set up secure backup": cross-signing, secret storage with a new recovery key and
   * a key backup (this device's keys go into it). Returns the recovery key, as shown to the user.
   * With `passphrase`, the secret storage key is derived from it (Element's "use a security phrase").
   */
  async setUpRecovery(passphrase?: string): Promise<string> {
    const recoveryKey = await this.crypto.createRecoveryKeyFromPassphrase(passphrase);
    this.secretStorageKey = recoveryKey.privateKey;
    await this.crypto.bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: (makeRequest) => this.authorise(makeRequest) });
    await this.crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => recoveryKey, setupNewSecretStorage: true, setupNewKeyBackup: true });
    await this.crypto.checkKeyBackupAndEnable();
    this.recoveryKey = recoveryKey.encodedPrivateKey!;
    return this.recoveryKey;
  }

  /**
   * Element on a new login, "verify with recovery key": the cross-signing keys and the backup key
   * from secret storage, this device cross-signed, the key backup restored. Returns how many
   * room keys came from the backup.
   */
  async recoverWith(recoveryKey: string): Promise<number> {
    this.secretStorageKey = decodeRecoveryKey(recoveryKey);
    this.recoveryKey = recoveryKey;
    // The account's cross-signing keys as the server has them: the private ones must match.
    await this.crypto.getUserDeviceInfo([this.userId], true);
    await this.crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: (makeRequest) => this.authorise(makeRequest) });
    await this.crypto.crossSignDevice(this.deviceId);
    await this.crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    await this.crypto.checkKeyBackupAndEnable();
    return (await this.crypto.restoreKeyBackup()).imported;
  }

  /** Whether this peer sees `userId`'s device as signed by its owner (cross-signing), fetched now. */
  async deviceSignedByOwner(userId: string, deviceId: string): Promise<boolean> {
    await this.crypto.getUserDeviceInfo([userId], true);
    return (await this.crypto.getDeviceVerificationStatus(userId, deviceId))?.signedByOwner ?? false;
  }

  /** Whether this peer has verified `userId`'s cross-signing identity (signed their master key, as a verification does). */
  async userIdentityVerified(userId: string): Promise<boolean> {
    await this.crypto.getUserDeviceInfo([userId], true);
    return (await this.crypto.getUserVerificationStatus(userId)).isCrossSigningVerified();
  }

  /** The room keys this peer holds, in a passphrase-encrypted key file (Element's "Export E2E room keys"). */
  async exportKeyFile(passphrase: string): Promise<string> {
    const { OlmMachine } = await jsSdkRustCrypto();
    return OlmMachine.encryptExportedRoomKeys(await this.crypto.exportRoomKeysAsJson(), passphrase, 100_000);
  }

  /** Imports a passphrase-encrypted key file (Element's "Import E2E room keys"). */
  async importKeyFile(file: string, passphrase: string): Promise<void> {
    const { OlmMachine } = await jsSdkRustCrypto();
    await this.crypto.importRoomKeysAsJson(OlmMachine.decryptExportedRoomKeys(file, passphrase));
  }

  /** How many room keys the account's current key backup holds on the server (0 without one). */
  async serverBackupKeyCount(): Promise<number> {
    // Asked now: the SDK's getKeyBackupInfo() answers from a cache.
    const info = await this.client.http
      .authedRequest<{ count?: number }>(Method.Get, '/room_keys/version', undefined, undefined, V3_PREFIX)
      .catch(() => undefined);
    return info?.count ?? 0;
  }

  /** Makes a new key backup version without putting its key into secret storage: another client replacing the backup. */
  async replaceBackupOutsideSecretStorage(): Promise<string> {
    const { BackupDecryptionKey } = await jsSdkRustCrypto();
    const key = BackupDecryptionKey.createRandomKey();
    const answer = await this.client.http.authedRequest<{ version: string }>(Method.Post, '/room_keys/version', undefined, {
      algorithm: 'm.megolm_backup.v1.curve25519-aes-sha2',
      auth_data: { public_key: key.megolmV1PublicKey.publicKeyBase64 },
    }, V3_PREFIX);
    return answer.version;
  }

  // ---- interactive verification (SAS) --------------------------------------------------

  /**
   * Asks this user's other devices to verify this one (Element's "Verify with another device"):
   * an m.key.verification.request to all of them, or with `deviceId` to that one. Needs the
   * account's cross-signing identity (the SDK refuses without one).
   */
  async requestOwnVerification(opts: { deviceId?: string } = {}): Promise<PeerVerification> {
    if (opts.deviceId) return this.requestDeviceVerification(this.userId, opts.deviceId);
    await this.crypto.getUserDeviceInfo([this.userId], true);
    return new PeerVerification(this, await this.crypto.requestOwnUserVerification());
  }

  /** A to-device request to one device of a user (waits until the peer knows the device). */
  async requestDeviceVerification(userId: string, deviceId: string): Promise<PeerVerification> {
    await this.waitForDevice(userId, deviceId);
    return new PeerVerification(this, await this.crypto.requestDeviceVerification(userId, deviceId));
  }

  /**
   * Asks another user to verify in a room, as Element does from a DM ("Verify user"): an
   * m.room.message with msgtype m.key.verification.request, then the flow's events in the room.
   */
  async requestUserVerification(userId: string, roomId: string): Promise<PeerVerification> {
    await this.waitForRoom(roomId);
    await this.crypto.getUserDeviceInfo([userId], true);
    return new PeerVerification(this, await this.crypto.requestVerificationDM(userId, roomId));
  }

  /**
   * The next verification request others sent to this peer (to-device or in a room), from
   * `from` (a user ID) and `deviceId` when given; one that came before the call counts. Each
   * request is handed out once.
   */
  async waitForVerificationRequest(opts: { from?: string; deviceId?: string; timeoutMs?: number } = {}): Promise<PeerVerification> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const entry = await pollFor(
      () =>
        this.incomingVerifications.find(
          ({ verification: v, taken }) => !taken && (!opts.from || v.otherUserId === opts.from) && (!opts.deviceId || v.otherDeviceId === opts.deviceId),
        ),
      timeoutMs,
      () => {
        const seen = this.incomingVerifications.map(({ verification: v, taken }) => `  ${v.flowId} from ${v.otherUserId}/${v.otherDeviceId ?? '?'} ${v.phase}${taken ? ' (taken)' : ''}`);
        const want = [opts.from && `from ${opts.from}`, opts.deviceId && `device ${opts.deviceId}`].filter(Boolean).join(' ');
        return [`peer ${this.userId}/${this.deviceId}: no verification request${want ? ` ${want}` : ''} after ${timeoutMs} ms; received:`, ...(seen.length ? seen : ['  (none)'])].join('\n');
      },
    );
    entry.taken = true;
    return entry.verification;
  }
}

/**
 * Logs in (or registers), initialises Rust crypto, syncs, and waits until the device keys are
 * uploaded; with `asElement`, also the device isolation and cross-signing Element has.
 */
export async function startPeer(opts: StartPeerOptions): Promise<Peer> {
  if (opts.asElement && opts.user && !opts.recoveryKey) {
    throw new Error('startPeer: asElement with user needs recoveryKey (Element verifies a new login before it goes on)');
  }
  const homeserverUrl = opts.homeserverUrl.replace(/\/+$/, '');
  const password = opts.password ?? `pw-${randomBytes(12).toString('base64url')}`;
  const device = { ...(opts.deviceId ? { deviceId: opts.deviceId } : {}), ...(opts.deviceName ? { deviceName: opts.deviceName } : {}) };
  const session = opts.user
    ? await loginWithPassword(homeserverUrl, opts.user, password, device)
    : await registerAccount(homeserverUrl, opts.username ?? `peer-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`, password, device);
  await tameRustTracing();
  const peer = new Peer(homeserverUrl, session, password);
  try {
    await peer.start(opts.timeoutMs ?? 20_000, { onlySignedDevices: opts.asElement ?? false });
    if (opts.asElement) {
      // Element's first login: set up secure backup; a later login: verify with the recovery key.
      if (opts.recoveryKey) await peer.recoverWith(opts.recoveryKey);
      else await peer.setUpRecovery();
    }
  } catch (error) {
    await peer.stop();
    throw error;
  }
  return peer;
}
