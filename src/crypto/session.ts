/**
 * One profile's end-to-end encryption: its OlmMachine (the Rust engine) on its persistent store,
 * driven the way the spec's "End-to-End Encryption" module says, behind a small interface of
 * JSON in, JSON out: commands and the stream layer never see the engine's types.
 *
 * Many mx processes share one profile's store (a `tail` running for days while scripts
 * `send`). Every call into the engine happens inside the store's inter-process lock
 * (persistent-idb.ts), and the machine is made anew when another process changed the store
 * since this one last held the lock (its caches would be stale, and its next save could put
 * old state over new). What a lock period changed is on disk when it ends; so:
 * - a sync position that acknowledges to-device messages is saved only after the period that
 *   processed them ended (`receiveSync`, `catchUp`);
 * - an encrypted event is sent only after the period that encrypted it ended (`encrypt`), so a
 *   crash can never make the same Megolm message index encrypt two messages; and its ciphertext
 *   is kept until the server has it, for a re-run with the same transaction ID (outbox.ts).
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { ExitCode, MxError } from '../errors.js';
import type { MatrixClient } from '../matrix/http.js';
import { sync, type SyncResponse } from '../matrix/sync.js';
import { clearEvent, MEGOLM, reasonOf, undecryptable, type RoomEvent } from './decrypted.js';
import { engineLogger, loadEngine, type CryptoSdk } from './engine.js';
import { openPersistentIndexedDb, type PersistentIndexedDb } from './persistent-idb.js';
import { forgetCiphertext, keepCiphertext, pendingCiphertext } from './outbox.js';
import { readCryptoPosition, saveCryptoPosition } from './position.js';
import { processOutgoingRequests, sendRequest } from './requests.js';

/** The name of the engine's databases inside the store folder (one store per folder). */
const STORE_NAME = 'mx';

/** Where a profile's device keeps its keys. */
export interface CryptoStoreRef {
  userId: string;
  deviceId: string;
  /** The store's folder (0700), one per user and device. */
  folder: string;
  /** The key the engine encrypts the store with (32 bytes, kept in the profile). */
  key: Uint8Array;
}

/** What a room's state says about encrypting for it. */
export interface RoomEncryptionSettings {
  /** The m.room.encryption content. */
  encryption: Record<string, unknown>;
  /** m.room.history_visibility (default "shared"). */
  historyVisibility: string;
  /** Joined members, and invited ones when the history visibility lets them read. */
  members: string[];
}

/** A sync filter that brings no room at all: only to-device messages, device lists and key counts. */
export const CRYPTO_ONLY_FILTER = JSON.stringify({
  presence: { not_types: ['*'] },
  account_data: { not_types: ['*'] },
  room: { rooms: [] },
});

export class CryptoSession {
  private machine: Sdk.OlmMachine | undefined;
  /** Users whose devices this process has asked the engine to track. */
  private readonly tracked = new Set<string>();

  private constructor(
    private readonly sdk: CryptoSdk,
    private readonly idb: PersistentIndexedDb,
    private readonly ref: CryptoStoreRef,
    private readonly client: MatrixClient,
    private readonly debug: ((line: string) => void) | undefined,
  ) {}

  /** Loads the engine and opens the store (created when new); nothing is sent yet. */
  static async open(client: MatrixClient, ref: CryptoStoreRef, debug?: (line: string) => void): Promise<CryptoSession> {
    const started = process.hrtime.bigint();
    const [sdk, idb] = await Promise.all([loadEngine(debug), openPersistentIndexedDb(ref.folder)]);
    idb.installGlobals();
    debug?.(`crypto: engine loaded, store opened in ${elapsedMs(started)} ms`);
    return new CryptoSession(sdk, idb, ref, client, debug);
  }

  async close(): Promise<void> {
    if (this.machine) await this.locked(async () => this.closeMachine());
    await this.idb.close();
  }

  /**
   * The to-device messages, device list changes and key counts since this store's own sync
   * position, as `mx send` needs before it encrypts (a member's new device must get the key),
   * and what `login` does to upload the device's keys. `response`, when given, is a sync answer
   * fetched in the meantime (while the engine was loading) from readCryptoPosition()'s token.
   */
  async catchUp(prefetched?: Promise<SyncResponse>): Promise<void> {
    const response = await (prefetched ?? fetchCryptoSync(this.client, this.ref.folder));
    await this.receiveSync(response);
    saveCryptoPosition(this.ref.folder, response.next_batch);
  }

  /**
   * Feeds a sync answer's crypto parts to the engine and sends what it then asks for (key
   * uploads, key queries, to-device answers). Durable when it resolves: only then may a sync
   * with this answer's next_batch (which acknowledges its to-device messages) be made.
   */
  async receiveSync(response: SyncResponse): Promise<void> {
    const { sdk } = this;
    const toDevice = JSON.stringify(response.to_device?.events ?? []);
    const lists = (response as { device_lists?: { changed?: string[]; left?: string[] } }).device_lists ?? {};
    const counts = new Map(Object.entries(oneTimeKeyCounts(response)));
    const fallback = new Set((response as { device_unused_fallback_key_types?: string[] }).device_unused_fallback_key_types ?? []);
    await this.locked(async (machine) => {
      const users = (ids: string[] | undefined) => (ids ?? []).map((id) => new sdk.UserId(id));
      await machine.receiveSyncChanges(toDevice, new sdk.DeviceLists(users(lists.changed), users(lists.left)), counts, fallback);
      await processOutgoingRequests(sdk, machine, this.client);
    });
  }

  /**
   * Encrypts one message event for a room: tracks the members' devices, makes Olm sessions
   * with the new ones, shares the room key as the room's settings say, then encrypts. Returns
   * the m.room.encrypted content; send it only after this resolved.
   */
  async encrypt(roomId: string, eventType: string, content: Record<string, unknown>, room: RoomEncryptionSettings, txnId: string): Promise<Record<string, unknown>> {
    const { sdk } = this;
    // A transaction ID seen before whose PUT got no answer: its ciphertext, not a new one.
    const pending = pendingCiphertext(this.ref.folder, roomId, txnId);
    if (pending) return pending;
    const algorithm = room.encryption.algorithm;
    if (algorithm !== MEGOLM) {
      throw new MxError(`${roomId} uses the encryption algorithm ${String(algorithm)}; mx encrypts only with ${MEGOLM}: nothing was sent`, ExitCode.encryption);
    }
    return this.locked(async (machine) => {
      const users = () => room.members.map((id) => new sdk.UserId(id));
      await machine.updateTrackedUsers(users());
      for (const user of room.members) this.tracked.add(user);
      // Key queries for members not seen before: their devices must be known to get the key.
      await processOutgoingRequests(sdk, machine, this.client);
      const claim = await machine.getMissingSessions(users());
      if (claim) await sendRequest(sdk, machine, this.client, claim);
      for (const request of await machine.shareRoomKey(new sdk.RoomId(roomId), users(), this.settings(room))) {
        await sendRequest(sdk, machine, this.client, request);
      }
      const encrypted = JSON.parse(await machine.encryptRoomEvent(new sdk.RoomId(roomId), eventType, JSON.stringify(content))) as Record<string, unknown>;
      keepCiphertext(this.ref.folder, roomId, txnId, encrypted);
      return encrypted;
    });
  }

  /** The server answered the PUT of an encrypted event: its ciphertext need not be kept. */
  sent(roomId: string, txnId: string): void {
    forgetCiphertext(this.ref.folder, roomId, txnId);
  }

  /**
   * Decrypts the m.room.encrypted events among `events` (other events pass through as they
   * are). Never throws for one event: an event that cannot be decrypted comes back as it was,
   * with the reason in its `encryption` field.
   */
  async decryptEvents(roomId: string, events: RoomEvent[]): Promise<RoomEvent[]> {
    if (!events.some((e) => e.type === 'm.room.encrypted')) return events;
    const { sdk } = this;
    return this.locked(async (machine) => {
      // Senders' devices must be known to say whether they are verified by their owners.
      const newSenders = [...new Set(events.filter((e) => e.type === 'm.room.encrypted' && typeof e.sender === 'string').map((e) => e.sender!))]
        .filter((user) => !this.tracked.has(user));
      if (newSenders.length) {
        await machine.updateTrackedUsers(newSenders.map((id) => new sdk.UserId(id)));
        for (const user of newSenders) this.tracked.add(user);
        await processOutgoingRequests(sdk, machine, this.client);
      }
      const out: RoomEvent[] = [];
      for (const event of events) out.push(event.type === 'm.room.encrypted' ? await this.decryptOne(machine, roomId, event) : event);
      return out;
    });
  }

  private async decryptOne(machine: Sdk.OlmMachine, roomId: string, event: RoomEvent): Promise<RoomEvent> {
    const { sdk } = this;
    const { algorithm, ciphertext, session_id: sessionId } = event.content;
    if (algorithm !== MEGOLM) {
      return undecryptable(event, typeof algorithm === 'string' ? 'unsupported_algorithm' : 'malformed', `algorithm ${JSON.stringify(algorithm)}`);
    }
    if (typeof ciphertext !== 'string' || typeof sessionId !== 'string') {
      return undecryptable(event, 'malformed', 'a Megolm event needs "ciphertext" and "session_id" strings');
    }
    let decrypted: Sdk.DecryptedRoomEvent;
    try {
      decrypted = await machine.decryptRoomEvent(JSON.stringify(event), new sdk.RoomId(roomId), new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted));
    } catch (error) {
      const { reason, message } = reasonOf(sdk, error);
      return undecryptable(event, reason, message);
    }
    const plaintext = JSON.parse(decrypted.event) as { type?: unknown; content?: unknown };
    const deviceId = decrypted.senderDevice?.toString();
    const device = deviceId ? await machine.getDevice(new sdk.UserId(decrypted.sender.toString()), new sdk.DeviceId(deviceId)) : undefined;
    return clearEvent(event, plaintext, {
      algorithm: MEGOLM,
      decrypted: true,
      ...(deviceId ? { sender_device: deviceId } : {}),
      sender_key: decrypted.senderCurve25519Key,
      ...(typeof event.content.session_id === 'string' ? { session_id: event.content.session_id } : {}),
      verified: device?.isCrossSignedByOwner() ?? false,
    });
  }

  /** The engine's settings for sharing this room's key (the spec's m.room.encryption fields). */
  private settings(room: RoomEncryptionSettings): Sdk.EncryptionSettings {
    const { sdk } = this;
    const settings = new sdk.EncryptionSettings();
    settings.algorithm = sdk.EncryptionAlgorithm.MegolmV1AesSha2;
    const { rotation_period_ms: ms, rotation_period_msgs: msgs } = room.encryption;
    // The engine counts the period in microseconds.
    if (typeof ms === 'number' && ms > 0) settings.rotationPeriod = BigInt(Math.round(ms * 1000));
    if (typeof msgs === 'number' && msgs > 0) settings.rotationPeriodMessages = BigInt(Math.round(msgs));
    settings.historyVisibility = historyVisibility(sdk, room.historyVisibility);
    return settings;
  }

  /** Runs `fn` with an up-to-date machine inside the store's lock; durable once it resolves. */
  private async locked<T>(fn: (machine: Sdk.OlmMachine) => Promise<T>): Promise<T> {
    const asked = process.hrtime.bigint();
    let held = asked;
    const result = await this.idb.withLock(async (changedByOthers) => {
      held = process.hrtime.bigint();
      if (changedByOthers) this.closeMachine();
      this.machine ??= await this.openMachine();
      return fn(this.machine);
    });
    this.debug?.(`crypto: store lock waited ${Number(held - asked) / 1e6 | 0} ms, held ${elapsedMs(held)} ms`);
    return result;
  }

  private async openMachine(): Promise<Sdk.OlmMachine> {
    const { sdk, ref } = this;
    const logger = engineLogger(this.debug);
    const handle = await sdk.StoreHandle.openWithKey(STORE_NAME, ref.key, logger);
    try {
      return await sdk.OlmMachine.initFromStore(new sdk.UserId(ref.userId), new sdk.DeviceId(ref.deviceId), handle, logger);
    } finally {
      handle.free();
    }
  }

  private closeMachine(): void {
    this.machine?.close();
    this.machine = undefined;
    // A new machine knows only what the store says: track again what this process needs.
    this.tracked.clear();
  }
}

/** The crypto-only sync from this store's own position (started early, while the engine loads). */
export function fetchCryptoSync(client: MatrixClient, folder: string): Promise<SyncResponse> {
  return sync(client, { since: readCryptoPosition(folder), timeout: 0, filter: CRYPTO_ONLY_FILTER });
}

function elapsedMs(since: bigint): number {
  return Number((process.hrtime.bigint() - since) / 1_000_000n);
}

/** device_one_time_keys_count, with the signed_curve25519 count the engine needs (0 when absent). */
function oneTimeKeyCounts(response: SyncResponse): Record<string, number> {
  const counts = (response as { device_one_time_keys_count?: Record<string, number> }).device_one_time_keys_count ?? {};
  return { signed_curve25519: 0, ...counts };
}

function historyVisibility(sdk: CryptoSdk, value: string): Sdk.HistoryVisibility {
  switch (value) {
    case 'invited':
      return sdk.HistoryVisibility.Invited;
    case 'joined':
      return sdk.HistoryVisibility.Joined;
    case 'world_readable':
      return sdk.HistoryVisibility.WorldReadable;
    default:
      return sdk.HistoryVisibility.Shared;
  }
}
