/**
 * The engine a verification runs in: a fork of the profile's engine, on an in-memory copy of
 * its store taken when the verification starts.
 *
 * Why a fork: the engine keeps a verification in memory only, and a machine must be made anew
 * whenever another process changed the store (session.ts), which would end the verification.
 * The fork is never made anew and never saves: other processes go on using the store (a tail,
 * sends) while a person compares emoji for minutes, and nothing the fork does can put its state
 * over theirs. It sends only what a verification sends: verification messages, key queries,
 * and the signatures that record its result. Nothing else it asks for goes out (it must not
 * upload keys or Olm messages from a copy that the store does not hold). What the verification
 * established is applied to the store's own engine afterwards (result.ts).
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import type { MatrixClient } from '../../matrix/http.js';
import { engineLogger, type CryptoSdk } from '../engine.js';
import { sendRequest, type LockedEngine } from '../requests.js';
import type { CryptoSession } from '../session.js';
import { isVerificationType, type VerificationToDevice } from './inbox.js';

type Outgoing = Parameters<typeof sendRequest>[1];

/** How a room message of the verification goes out (encrypted where the room is: the command's sender). */
export type SendRoomMessage = (roomId: string, eventType: string, txnId: string, content: Record<string, unknown>, signal?: AbortSignal) => Promise<string>;

/** How long a last message (a cancel after Ctrl-C) may take. */
const FINAL_SEND_MS = 5_000;

/** The object stores a verification never reads: left empty in the copy (room keys are most of a store). */
const NOT_COPIED = /inbound_group_sessions|outbound_group_sessions|withheld|room_key|olm_hashes|received_room_key_bundles/;

export class EngineFork {
  private constructor(
    readonly sdk: CryptoSdk,
    readonly machine: Sdk.OlmMachine,
    private readonly engine: LockedEngine,
    private readonly sendRoomMessage: SendRoomMessage,
  ) {}

  /** Copies the session's store (in one lock period) and opens a machine on the copy. */
  static async open(session: CryptoSession, client: MatrixClient, sendRoomMessage: SendRoomMessage, debug?: (line: string) => void): Promise<EngineFork> {
    const { ref } = session;
    const copy = await session.copyStoreToMemory((_db, store) => NOT_COPIED.test(store));
    // The engine opens its databases through globalThis.indexedDB: the copy's, for this one
    // opening, inside a lock period (no other engine call of this process runs meanwhile).
    const { sdk, machine } = await session.use(async ({ sdk }) => {
      const g = globalThis as { indexedDB?: unknown };
      const own = g.indexedDB;
      g.indexedDB = copy;
      try {
        const logger = engineLogger(debug);
        const handle = await sdk.StoreHandle.openWithKey('mx', ref.key, logger);
        try {
          return { sdk, machine: await sdk.OlmMachine.initFromStore(new sdk.UserId(ref.userId), new sdk.DeviceId(ref.deviceId), handle, logger) };
        } finally {
          handle.free();
        }
      } finally {
        g.indexedDB = own;
      }
    });
    // Its requests are sent as the store's are, but nothing of it is ever saved: no checkpoint.
    const engine: LockedEngine = { sdk, machine, client, durable: async () => {} };
    return new EngineFork(sdk, machine, engine, sendRoomMessage);
  }

  /** Gives the fork verification messages that came to-device (from the inbox). */
  async receiveToDevice(events: VerificationToDevice[]): Promise<void> {
    if (events.length === 0) return;
    const { sdk } = this;
    await this.machine.receiveSyncChanges(JSON.stringify(events), new sdk.DeviceLists([], []), new Map());
    await this.send();
  }

  /** Gives the fork a verification event of a room (decrypted already). */
  async receiveRoomEvent(event: Record<string, unknown>, roomId: string): Promise<void> {
    await this.machine.receiveVerificationEvent(JSON.stringify(event), new this.sdk.RoomId(roomId));
    await this.send();
  }

  /** Asks the server for these users' devices and identities now (a verification needs them known). */
  async queryKeys(users: string[]): Promise<void> {
    const { sdk, machine } = this;
    await machine.updateTrackedUsers(users.map((id) => new sdk.UserId(id)));
    await sendRequest(this.engine, machine.queryKeysForUsers(users.map((id) => new sdk.UserId(id))));
  }

  /** Sends one request a verification object gave (accept, start, confirm...). */
  async sendOne(request: Outgoing | undefined): Promise<void> {
    if (!request) return;
    await this.sendAllowed(request);
  }

  /** Sends what the fork queued that a verification may send (some steps come only this way). */
  async send(): Promise<void> {
    for (let round = 0; round < 10; round++) {
      const requests = ((await this.machine.outgoingRequests()) as Outgoing[]).filter((r) => this.allowed(r));
      if (requests.length === 0) return;
      for (const request of requests) await this.sendAllowed(request);
    }
  }

  /**
   * Sends a last message (a cancel) whatever else stopped: also after Ctrl-C, whose signal ends
   * every other request of the command, within a few seconds.
   */
  async sendFinal(request: Outgoing | undefined): Promise<void> {
    if (!request || !this.allowed(request)) return;
    const client = { ...this.engine.client, signal: AbortSignal.timeout(FINAL_SEND_MS) };
    if (request.type === this.sdk.RequestType.RoomMessage) {
      const { room_id: roomId, event_type: type, txn_id: txnId, body } = request as Sdk.RoomMessageRequest;
      await this.sendRoomMessage(roomId, type, txnId, JSON.parse(body) as Record<string, unknown>, client.signal);
      return;
    }
    await sendRequest({ ...this.engine, client }, request);
  }

  close(): void {
    this.machine.close();
  }

  private allowed(request: Outgoing): boolean {
    const { RequestType } = this.sdk;
    switch (request.type) {
      case RequestType.KeysQuery:
      case RequestType.SignatureUpload:
        return true;
      case RequestType.ToDevice:
        return isVerificationType((request as Sdk.ToDeviceRequest).event_type);
      case RequestType.RoomMessage: {
        const { event_type: type, body } = request as Sdk.RoomMessageRequest;
        return isVerificationType(type) || (type === 'm.room.message' && (JSON.parse(body) as { msgtype?: unknown }).msgtype === 'm.key.verification.request');
      }
      default:
        return false;
    }
  }

  private async sendAllowed(request: Outgoing): Promise<void> {
    if (!this.allowed(request)) return;
    if (request.type !== this.sdk.RequestType.RoomMessage) return sendRequest(this.engine, request);
    const { room_id: roomId, event_type: type, txn_id: txnId, body } = request as Sdk.RoomMessageRequest;
    const eventId = await this.sendRoomMessage(roomId, type, txnId, JSON.parse(body) as Record<string, unknown>);
    if (request.id !== undefined) await this.machine.markRequestAsSent(request.id, request.type, JSON.stringify({ event_id: eventId }));
  }
}
