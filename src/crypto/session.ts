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
 *   crash can never make the same Megolm message index encrypt two messages; then its ciphertext
 *   is kept until the server has answered, for a re-run with the same transaction ID (outbox.ts);
 * - within a period, what the engine asks to send (key uploads, Olm-encrypted to-device
 *   messages, signatures) goes out only once the state that made it is durable (requests.ts);
 * - a machine is used only once its identity is the one the store is known to hold
 *   (identity.ts): never a silent new identity.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { ExitCode, LocalStateError, MxError } from '../errors.js';
import { errorMessage } from '../fs-util.js';
import { nestedDeeperThanAllowed, type MatrixClient } from '../matrix/http.js';
import { isRecord } from '../matrix/shape.js';
import { sync, type SyncResponse } from '../matrix/sync.js';
import { clearEvent, isEncryptedEvent, MEGOLM, reasonOf, undecryptable, type RoomEvent } from './decrypted.js';
import { engineLogger, loadEngine, type CryptoSdk } from './engine.js';
import { readBackupTarget, saveBackupTarget, uploadRoomKeys, type BackupTarget } from './backup.js';
import { SenderTrust } from './sender-trust.js';
import { readOwnTrust } from './status.js';
import { checkDeviceIdentity } from './identity.js';
import { StoreDamaged } from '../durable-idb/log-format.js';
import { openPersistentIndexedDb, type PersistentIndexedDb } from '../durable-idb/persistent-idb.js';
import { copyToMemory } from '../durable-idb/memory-copy.js';
import type { IdbFactory } from '../durable-idb/idb-types.js';
import { forgetCiphertext, keepCiphertext, pendingCiphertext, sweepOutbox } from './outbox.js';
import { readCryptoPosition, saveCryptoPosition } from './position.js';
import { NEW_DEVICE_ADVICE } from './store-ref.js';
import { processOutgoingRequests, type LockedEngine } from './requests.js';
import { checkOwnDeviceShares, collectStrategy, currentWithheld, recordedWithheldFrom, shareRoomKey, type WithheldFrom } from './key-sharing.js';
import { recordedWithheld, recordShare } from './withheld.js';
import type { ShareKeysWith } from '../share-keys-with.js';
import { addToInbox, splitVerificationMessages } from './verification/inbox.js';

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

/** An encrypted message, and the members' devices that have not got the room key it needs. */
export interface EncryptedEvent {
  content: Record<string, unknown>;
  withheldFrom: WithheldFrom[];
}

/** A sync filter that brings no room at all: only to-device messages, device lists and key counts. */
const CRYPTO_ONLY_FILTER = JSON.stringify({
  presence: { not_types: ['*'] },
  account_data: { not_types: ['*'] },
  room: { rooms: [] },
});

/** How a session reports: debug lines (--debug), and warnings the user should see. */
export interface SessionLog {
  debug?: (line: string) => void;
  warn: (message: string) => void;
  /** Progress worth a line on stderr (a wait for the store's lock). */
  notice?: (message: string) => void;
  /**
   * Told once per process, at the first encrypt or decrypt, when this device is not
   * cross-signed by its owner on an account that has cross-signing: the reason Element users'
   * clients neither share keys with it nor read its messages.
   */
  unverifiedDevice?: () => void;
}

export class CryptoSession {
  /** The machine of the current lock periods, with the way out for its requests. */
  private engine: LockedEngine | undefined;
  /** Users whose devices this process has asked the engine to track. */
  private readonly tracked = new Set<string>();
  private readonly senders: SenderTrust;
  /** The current machine uploads new room keys to a server-side backup (backup.ts). */
  private backingUp = false;
  /** A catch-up sync asked for early (while the engine loaded): processed in the next lock period. */
  private pendingCatchUp: Promise<SyncResponse> | undefined;
  private readonly debug: ((line: string) => void) | undefined;
  /** This process has looked at this device's own trust (reportOwnTrustOnce). */
  private ownTrustSeen = false;

  private constructor(
    private readonly sdk: CryptoSdk,
    private readonly idb: PersistentIndexedDb,
    readonly ref: CryptoStoreRef,
    readonly client: MatrixClient,
    private readonly log: SessionLog,
  ) {
    this.debug = log.debug;
    this.senders = new SenderTrust(sdk, log.warn);
  }

  /**
   * Loads the engine and opens the store (created when new). With `catchUp`, the to-device
   * messages since the store's own position are asked for at once, while the engine loads, and
   * processed in the first lock period (see catchUp).
   */
  static async open(client: MatrixClient, ref: CryptoStoreRef, log: SessionLog, options: { catchUp?: boolean } = {}): Promise<CryptoSession> {
    const { debug } = log;
    const started = process.hrtime.bigint();
    // Every session's first use is a lock period: its lock and its reading of other processes'
    // changes overlap with the engine's WebAssembly compile instead of following it. The
    // store's folder is checked first (a link, a file or another user's folder in its place).
    const opened = openPersistentIndexedDb(ref.folder, { onLockWait: log.notice }).then((idb) => {
      idb.lockAhead();
      return idb;
    });
    const pending = options.catchUp ? fetchCryptoSync(client, ref.folder) : undefined;
    // Both are thrown where they are awaited, below (the store's first); until then they must
    // not be unhandled rejections while the engine loads.
    opened.catch(() => {});
    pending?.catch(() => {});
    let sdk: CryptoSdk;
    try {
      sdk = await loadEngine(debug);
    } catch (error) {
      // Not left holding the lock.
      await (await opened.catch(() => undefined))?.close();
      throw error;
    }
    const idb = await opened.catch(withNewDeviceAdvice);
    idb.installGlobals();
    debug?.(`crypto: engine loaded, store opened in ${elapsedMs(started)} ms`);
    const session = new CryptoSession(sdk, idb, ref, client, log);
    session.pendingCatchUp = pending;
    return session;
  }

  /**
   * Closes the store's files. The machine is let go without a lock period of its own: all it
   * changed is on disk already (every lock period ends with a flush), and the process ends.
   */
  async close(): Promise<void> {
    this.engine = undefined;
    await this.idb.close();
  }

  /**
   * The to-device messages, device list changes and key counts since this store's own sync
   * position, as `mx send` needs before it encrypts (a member's new device must get the key),
   * and what `login` does to upload the device's keys. One asked for at open is used (and,
   * when the next call is an encrypt, processed in the same lock period as the encryption).
   */
  async catchUp(): Promise<void> {
    this.pendingCatchUp ??= fetchCryptoSync(this.client, this.ref.folder);
    await this.locked(async () => {});
  }

  /**
   * Waits up to `timeoutMs` for to-device messages (a room key on its way) with a crypto-only
   * long poll from the store's own position, then processes and saves what came, as catchUp
   * does. The poll runs outside the store's lock: other processes use the store meanwhile.
   */
  async waitForToDevice(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const response = await fetchCryptoSync({ ...this.client, signal }, this.ref.folder, timeoutMs);
    this.pendingCatchUp = Promise.resolve(response);
    await this.locked(async () => {});
  }

  /**
   * Feeds a sync answer's crypto parts to the engine and sends what it then asks for (key
   * uploads, key queries, to-device answers). Durable when it resolves: only then may a sync
   * with this answer's next_batch (which acknowledges its to-device messages) be made.
   */
  async receiveSync(response: SyncResponse): Promise<void> {
    await this.locked((engine) => this.processSync(engine, response));
  }

  /**
   * The verification messages (verification/inbox.ts) go to the inbox, not to this engine: a
   * verification is gone through by the one process that runs it. Any that came Olm-encrypted
   * are known only once decrypted, and are kept there too.
   */
  private async processSync(engine: LockedEngine, response: SyncResponse): Promise<void> {
    // An answer with nothing for the engine (the common catch-up before a send) costs nothing.
    if (!needsEngine(response)) return;
    const { sdk, machine } = engine;
    const { verification, others } = splitVerificationMessages(response.to_device?.events ?? []);
    const lists = (response as { device_lists?: { changed?: string[]; left?: string[] } }).device_lists ?? {};
    const counts = new Map(Object.entries(oneTimeKeyCounts(response)));
    const fallback = new Set((response as { device_unused_fallback_key_types?: string[] }).device_unused_fallback_key_types ?? []);
    const users = (ids: string[] | undefined) => (ids ?? []).map((id) => new sdk.UserId(id));
    const processed = await machine.receiveSyncChanges(JSON.stringify(others), new sdk.DeviceLists(users(lists.changed), users(lists.left)), counts, fallback);
    const decrypted = processed.flatMap((event) => (event.type === sdk.ProcessedToDeviceEventType.Decrypted ? [JSON.parse(event.rawEvent) as unknown] : []));
    verification.push(...splitVerificationMessages(decrypted).verification);
    await addToInbox(this.ref.folder, Date.now(), verification.map((event) => ({ event })));
    await processOutgoingRequests(engine);
  }

  /**
   * Encrypts one message event for a room: tracks the members' devices, makes Olm sessions
   * with the new ones, shares the room key as the room's settings and `shareWith` say, then
   * encrypts. Returns the m.room.encrypted content, durable in the store (its message index
   * spent) and kept in the outbox, with the devices left without the key (withheld.ts); send it
   * only after this resolved, and say `settled` once the server answered.
   */
  async encrypt(
    roomId: string, eventType: string, content: Record<string, unknown>, room: RoomEncryptionSettings, txnId: string, shareWith: ShareKeysWith,
  ): Promise<EncryptedEvent> {
    const { sdk } = this;
    // A transaction ID seen before whose PUT got no answer: its ciphertext, not a new one.
    const pending = pendingCiphertext(this.ref.folder, roomId, txnId);
    if (pending) {
      const withheld = recordedWithheld(this.ref.folder, roomId, String(pending.session_id), this.debug);
      return { content: pending, withheldFrom: recordedWithheldFrom(withheld, room.members) };
    }
    const algorithm = room.encryption.algorithm;
    if (algorithm !== MEGOLM) {
      throw new MxError(`${roomId} uses the encryption algorithm ${String(algorithm)}; mx encrypts only with ${MEGOLM}: nothing was sent`, ExitCode.encryption);
    }
    const encrypted = await this.locked(async (engine) => {
      const { machine } = engine;
      const users = () => room.members.map((id) => new sdk.UserId(id));
      await machine.updateTrackedUsers(users());
      for (const user of room.members) this.tracked.add(user);
      // Key queries for members not seen before: their devices must be known to get the key.
      await processOutgoingRequests(engine);
      const share = { roomId, members: room.members, ownUserId: this.ref.userId, shareWith, settings: this.settings(room, shareWith) };
      const outcome = await shareRoomKey(engine, share);
      await this.reportOwnTrustOnce(engine);
      const sent = JSON.parse(await machine.encryptRoomEvent(new sdk.RoomId(roomId), eventType, JSON.stringify(content))) as Record<string, unknown>;
      const withheld = await recordShare(this.ref.folder, roomId, String(sent.session_id), outcome, this.debug);
      return { content: sent, withheldFrom: await currentWithheld(engine, withheld, room.members) };
    });
    // Only now, with the message index spent on disk, may the ciphertext exist outside this
    // process: kept for a re-run first, then sent. (A crash before this loses only a
    // ciphertext nobody saw: a re-run encrypts anew, at the next index.)
    sweepOutbox(this.ref.folder);
    await keepCiphertext(this.ref.folder, roomId, txnId, encrypted.content);
    return encrypted;
  }

  /**
   * The server answered the PUT of an encrypted event, taking it or refusing it: its
   * ciphertext need not be kept (a re-run of a refused send encrypts anew).
   */
  settled(roomId: string, txnId: string): void {
    forgetCiphertext(this.ref.folder, roomId, txnId);
  }

  /**
   * Decrypts the m.room.encrypted events among `events` (other events pass through as they
   * are). Never throws for one event: an event that cannot be decrypted comes back as it was,
   * with the reason in its `encryption` field.
   */
  async decryptEvents(roomId: string, events: RoomEvent[]): Promise<RoomEvent[]> {
    if (!events.some(isEncryptedEvent)) return events;
    return this.locked(async (engine) => {
      const { sdk, machine } = engine;
      // Senders' devices must be known to say whether they are verified by their owners.
      const newSenders = [...new Set(events.filter((e) => isEncryptedEvent(e) && typeof e.sender === 'string').map((e) => e.sender))]
        .filter((user) => !this.tracked.has(user));
      if (newSenders.length) {
        await machine.updateTrackedUsers(newSenders.map((id) => new sdk.UserId(id)));
        for (const user of newSenders) this.tracked.add(user);
        await processOutgoingRequests(engine);
      }
      await this.reportOwnTrustOnce(engine);
      const out: RoomEvent[] = [];
      for (const event of events) out.push(isEncryptedEvent(event) ? await this.decryptOne(machine, roomId, event) : event);
      return out;
    });
  }

  private async decryptOne(machine: Sdk.OlmMachine, roomId: string, event: RoomEvent): Promise<RoomEvent> {
    const { sdk } = this;
    const { algorithm, ciphertext, session_id: sessionId } = isRecord(event.content) ? event.content : {};
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
    // A plaintext is a peer's JSON: bounded as a server's answer is, before anything walks it.
    if (nestedDeeperThanAllowed(decrypted.event)) return undecryptable(event, 'malformed', 'its decrypted content is nested too deep to read');
    const plaintext = JSON.parse(decrypted.event) as { type?: unknown; content?: unknown };
    const sender = decrypted.sender.toString();
    const deviceId = decrypted.senderDevice?.toString();
    return clearEvent(event, plaintext, {
      algorithm: MEGOLM,
      decrypted: true,
      ...(deviceId ? { sender_device: deviceId } : {}),
      sender_key: decrypted.senderCurve25519Key,
      ...(typeof sessionId === 'string' ? { session_id: sessionId } : {}),
      verified: deviceId ? await this.senders.deviceVerified(machine, sender, deviceId) : false,
      identity: await this.senders.identity(machine, sender),
    });
  }

  /**
   * Once per process: tells log.unverifiedDevice when this device is not cross-signed on an
   * account that has cross-signing. The account's own keys are tracked like any member's (a
   * first decrypt in a process that never tracked them asks the server once; the engine then
   * keeps them current from the sync's device list changes).
   */
  private async reportOwnTrustOnce(engine: LockedEngine): Promise<void> {
    if (this.ownTrustSeen || !this.log.unverifiedDevice) return;
    this.ownTrustSeen = true;
    await this.trackOwnUser(engine);
    const trust = await readOwnTrust(engine, this.ref);
    if (trust.accountHasCrossSigning && !trust.deviceCrossSigned) this.log.unverifiedDevice();
  }

  /**
   * Refuses, as encrypt() would, where this device cannot share room keys as `shareWith` says:
   * asked before work a refused send would waste (a file's upload).
   */
  async checkCanShare(roomId: string, shareWith: ShareKeysWith): Promise<void> {
    if (shareWith !== 'cross-signed') return;
    await this.locked(async (engine) => {
      await this.trackOwnUser(engine);
      await checkOwnDeviceShares(engine, roomId, this.ref.userId);
    });
  }

  /** The account's own keys, tracked as a member's are (asked of the server once, then kept current by the sync). */
  private async trackOwnUser(engine: LockedEngine): Promise<void> {
    const { userId } = this.ref;
    if (this.tracked.has(userId)) return;
    await engine.machine.updateTrackedUsers([new engine.sdk.UserId(userId)]);
    this.tracked.add(userId);
    await processOutgoingRequests(engine);
  }

  /**
   * From now on this device backs up room keys to `target`, starting with those it holds (at
   * the end of this lock period); the backup's private key (base64) is kept in the store.
   */
  async startBackup(decryptionKey: string, target: BackupTarget): Promise<void> {
    await this.locked(async ({ machine }) => {
      await machine.saveBackupDecryptionKey(this.sdk.BackupDecryptionKey.fromBase64(decryptionKey), target.version);
      await machine.enableBackupV1(target.publicKey, target.version);
      await saveBackupTarget(this.ref.folder, target);
      this.backingUp = true;
    });
  }

  /** A copy of the store's databases in memory, as they are now, that nothing saves (verification/fork.ts). */
  copyStoreToMemory(leaveEmpty: (db: string, store: string) => boolean): Promise<IdbFactory> {
    return this.locked(() => copyToMemory(this.idb.factory, leaveEmpty));
  }

  /**
   * Runs `fn` with the engine in a lock period of its own, for the crypto layer's own modules
   * (recovery, key files, devices): what it changes is durable once this resolves.
   */
  use<T>(fn: (engine: LockedEngine) => Promise<T>): Promise<T> {
    return this.locked(fn);
  }

  /** The engine's settings for sharing this room's key: the spec's m.room.encryption fields, and with whom. */
  private settings(room: RoomEncryptionSettings, shareWith: ShareKeysWith): Sdk.EncryptionSettings {
    const { sdk } = this;
    const settings = new sdk.EncryptionSettings();
    settings.algorithm = sdk.EncryptionAlgorithm.MegolmV1AesSha2;
    const { rotation_period_ms: ms, rotation_period_msgs: msgs } = room.encryption;
    // The engine counts the period in microseconds.
    if (typeof ms === 'number' && ms > 0) settings.rotationPeriod = BigInt(Math.round(ms * 1000));
    if (typeof msgs === 'number' && msgs > 0) settings.rotationPeriodMessages = BigInt(Math.round(msgs));
    settings.historyVisibility = historyVisibility(sdk, room.historyVisibility);
    settings.sharingStrategy = collectStrategy(sdk, shareWith);
    return settings;
  }

  /**
   * Runs `fn` with an up-to-date machine inside the store's lock; durable once it resolves. A
   * pending catch-up sync is processed first, in the same period, and its position saved after.
   */
  private async locked<T>(fn: (engine: LockedEngine) => Promise<T>): Promise<T> {
    const asked = process.hrtime.bigint();
    let held = asked;
    const pending = this.pendingCatchUp;
    this.pendingCatchUp = undefined;
    let caughtUp: SyncResponse | undefined;
    const result = await this.idb.withLock(async (changedByOthers) => {
      held = process.hrtime.bigint();
      if (changedByOthers) this.closeMachine();
      const engine = (this.engine ??= await this.openMachine());
      if (pending) await this.processSync(engine, (caughtUp = await pending));
      const value = await fn(engine);
      // Room keys this period received or made go to the key backup before the period ends.
      if (this.backingUp) await uploadRoomKeys(engine, this.ref.folder, this.log.warn);
      return value;
    }).catch(withNewDeviceAdvice);
    if (caughtUp) await saveCryptoPosition(this.ref.folder, caughtUp.next_batch);
    this.debug?.(`crypto: store lock waited ${Number(held - asked) / 1e6 | 0} ms, held ${elapsedMs(held)} ms`);
    return result;
  }

  /** The machine of the store, checked to hold the device's known identity (identity.ts). */
  private async openMachine(): Promise<LockedEngine> {
    const { sdk, ref, idb } = this;
    const logger = engineLogger(this.debug);
    let machine: Sdk.OlmMachine;
    try {
      const handle = await sdk.StoreHandle.openWithKey(STORE_NAME, ref.key, logger);
      try {
        machine = await sdk.OlmMachine.initFromStore(new sdk.UserId(ref.userId), new sdk.DeviceId(ref.deviceId), handle, logger);
      } finally {
        handle.free();
      }
    } catch (error) {
      throw unopenableStore(ref.folder, error);
    }
    const engine: LockedEngine = { sdk, machine, client: this.client, durable: () => idb.checkpoint() };
    try {
      await checkDeviceIdentity(engine, ref.folder, idb.existedBefore);
    } catch (error) {
      // A machine that is not the device's known identity: nothing of it may reach the disk.
      if (error instanceof MxError) idb.refuseToSave(error);
      machine.close();
      throw error;
    }
    // The engine does not remember which backup it uploads to (backup.ts).
    const backup = readBackupTarget(ref.folder);
    if (backup) await machine.enableBackupV1(backup.publicKey, backup.version);
    this.backingUp = Boolean(backup);
    return engine;
  }

  private closeMachine(): void {
    this.engine?.machine.close();
    this.engine = undefined;
    // A new machine knows only what the store says: track again what this process needs.
    this.tracked.clear();
    this.senders.reset();
  }
}

/** A damaged store's error, with what to do about it: a new device for the profile. */
function withNewDeviceAdvice(error: unknown): never {
  throw error instanceof StoreDamaged ? new LocalStateError(`${error.message} ${NEW_DEVICE_ADVICE}.`, { cause: error }) : error;
}

/** The engine could not open the store: with a key it was not made with, or it is damaged. */
function unopenableStore(folder: string, error: unknown): unknown {
  if (error instanceof MxError) return error;
  const reason = errorMessage(error);
  return new LocalStateError(
    /decrypt/i.test(reason)
      ? `The crypto store ${folder} cannot be opened with this profile's key (it was made for another profile of the same device, or the key was changed): ${reason}`
      : `The crypto engine cannot open the crypto store ${folder}: ${reason}`,
    { cause: error },
  );
}

/** Below this many one-time keys on the server, the engine uploads more (it keeps 50). */
const ONE_TIME_KEYS_LOW = 25;

/**
 * Whether an answer holds anything for the engine besides room events: to-device messages,
 * device list changes, one-time keys running low, or no unused fallback key. (A server that says
 * nothing of the keys is not asked for more.)
 */
export function needsEngine(response: SyncResponse): boolean {
  const extra = response as {
    device_lists?: { changed?: unknown[]; left?: unknown[] };
    device_one_time_keys_count?: Record<string, number>;
    device_unused_fallback_key_types?: string[];
  };
  const lists = extra.device_lists;
  const oneTimeKeys = extra.device_one_time_keys_count ? (extra.device_one_time_keys_count.signed_curve25519 ?? 0) : Infinity;
  const noFallbackKey = extra.device_unused_fallback_key_types !== undefined && !extra.device_unused_fallback_key_types.includes('signed_curve25519');
  return Boolean(response.to_device?.events?.length || lists?.changed?.length || lists?.left?.length || oneTimeKeys < ONE_TIME_KEYS_LOW || noFallbackKey);
}

/** The crypto-only sync from this store's own position (a catch-up's is started early, while the engine loads). */
async function fetchCryptoSync(client: MatrixClient, folder: string, timeout = 0): Promise<SyncResponse> {
  return sync(client, { since: readCryptoPosition(folder), timeout, filter: CRYPTO_ONLY_FILTER });
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
