/**
 * Sending one built event to a room: a message (PUT with a transaction ID), encrypted when the
 * room is, or a state event (never encrypted: the spec says so).
 *
 * A message never goes into an encrypted room in clear text: the room's state is asked before
 * every message (a room can be switched to encrypted at any time, also during a long
 * `--lines` run), and an encrypted room gets m.room.encrypted or nothing.
 */
import type { WithheldFrom } from '../crypto/key-sharing.js';
import type { CryptoSession, RoomEncryptionSettings } from '../crypto/session.js';
import { ExitCode, MxError } from '../errors.js';
import { isRateLimit, MatrixError } from '../matrix/errors.js';
import { sendMessage, setRoomStateWithKey } from '../matrix/events.js';
import type { MatrixClient } from '../matrix/http.js';
import { getMembersByRoom, getRoomEncryption, getRoomStateWithKey } from '../matrix/rooms.js';
import { DEFAULT_SHARE_KEYS_WITH, type ShareKeysWith } from '../share-keys-with.js';
import { MAX_EVENT_BYTES, type Content } from './content.js';

export interface Target {
  roomId: string;
  eventType: string;
  /** Set for a state event (PUT /state/{type}/{key}); such sends have no transaction ID. */
  stateKey?: string;
}

/** What send prints: the API's own names. txn_id only for message events. */
export interface Sent {
  event_id: string;
  room_id: string;
  txn_id?: string;
  /** True when the message went out encrypted. */
  encrypted?: boolean;
  /** Encrypted: the members' devices that did not get its room key (they cannot read it), and why. */
  withheld_from?: WithheldFrom[];
}

/** Who gets the room keys of encrypted messages, and who hears of the devices that did not. */
export interface KeySharing {
  shareWith: ShareKeysWith;
  /** Called after each encrypted message the server took, with its withheld_from. */
  onSent?: (withheldFrom: WithheldFrom[]) => void;
}

/** The room's m.room.encryption content, or undefined for a plain room: asked of the server now. */
export type RoomEncryption = Record<string, unknown> | undefined;

/** How long a long-running sender trusts its last catch-up of the crypto state (device changes). */
const CATCH_UP_EVERY_MS = 5_000;

export class RoomSender {
  private crypto: CryptoSession | undefined;
  private caughtUpAt = -Infinity;

  /**
   * `openCrypto` opens the profile's crypto store, caught up with to-device messages (only asked
   * for in an encrypted room).
   */
  constructor(
    private readonly client: MatrixClient,
    readonly target: Target,
    private readonly openCrypto: () => Promise<CryptoSession>,
    private readonly now: () => number = Date.now,
    private readonly keys: KeySharing = { shareWith: DEFAULT_SHARE_KEYS_WITH },
  ) {}

  /** Whether the room is encrypted, asked now (a file must know before its upload). */
  encryption(): Promise<RoomEncryption> {
    return getRoomEncryption(this.client, this.target.roomId);
  }

  /**
   * Sends the event. `txnId` must be fixed before the first attempt: matrixRequest retries the
   * same PUT (same path, same txn ID, same ciphertext) after a network error, a 5xx or a 429, and
   * the server answers a repeat with the first event's ID instead of a second event.
   * `encryption` is the room's state when the caller asked it just before; else it is asked here.
   */
  async send(content: Content, txnId: string, encryption?: RoomEncryption): Promise<Sent> {
    const { roomId, eventType, stateKey } = this.target;
    try {
      if (stateKey !== undefined) {
        const { event_id } = await setRoomStateWithKey(this.client, roomId, eventType, stateKey, content);
        return { event_id, room_id: roomId };
      }
      const state = encryption ?? (await this.encryption());
      if (!state) {
        const { event_id } = await sendMessage(this.client, roomId, eventType, txnId, content);
        return { event_id, room_id: roomId, txn_id: txnId };
      }
      // The engine loads while the members are asked for.
      const [crypto, settings] = await Promise.all([this.cryptoSession(), roomEncryptionSettings(this.client, roomId, state)]);
      const encrypted = await crypto.encrypt(roomId, eventType, content, settings, txnId, this.keys.shareWith);
      const { event_id } = await sendMessage(this.client, roomId, 'm.room.encrypted', txnId, encrypted.content).catch((error: unknown) => {
        // Refused: the server did not take the event, and a re-run encrypts anew.
        if (isRefusal(error)) crypto.settled(roomId, txnId);
        throw error;
      });
      crypto.settled(roomId, txnId);
      this.keys.onSent?.(encrypted.withheldFrom);
      return { event_id, room_id: roomId, txn_id: txnId, encrypted: true, withheld_from: encrypted.withheldFrom };
    } catch (error) {
      throw tooLargeAsUsage(error, roomId);
    }
  }

  /** The crypto session, caught up with to-device messages and device changes (again after a while). */
  async cryptoSession(): Promise<CryptoSession> {
    if (!this.crypto) {
      this.crypto = await this.openCrypto().catch((error: unknown) => {
        if (error instanceof MxError && error.exitCode === ExitCode.encryption) {
          throw new MxError(`${this.target.roomId} is an encrypted room and ${error.message}: nothing was sent`, ExitCode.encryption);
        }
        throw error;
      });
    } else if (this.now() - this.caughtUpAt > CATCH_UP_EVERY_MS) {
      await this.crypto.catchUp();
    } else {
      return this.crypto;
    }
    this.caughtUpAt = this.now();
    return this.crypto;
  }
}

/**
 * Who gets the room key: joined members, and invited ones unless the history visibility is
 * "joined" (an invitee may read from the invite on otherwise), as Element does.
 */
async function roomEncryptionSettings(client: MatrixClient, roomId: string, encryption: Record<string, unknown>): Promise<RoomEncryptionSettings> {
  const [members, visibility] = await Promise.all([
    getMembersByRoom(client, roomId, undefined, 'leave'),
    getRoomStateWithKey(client, roomId, 'm.room.history_visibility'),
  ]);
  const historyVisibility = typeof visibility?.history_visibility === 'string' ? visibility.history_visibility : 'shared';
  const wanted = historyVisibility === 'joined' ? ['join'] : ['join', 'invite'];
  const users = members.filter((m) => wanted.includes(String(m.content.membership)) && typeof m.state_key === 'string').map((m) => m.state_key!);
  return { encryption, historyVisibility, members: [...new Set(users)] };
}

/**
 * The server answered, and did not take the event: a 4xx other than a rate limit (which mx
 * retries; if it still fails, a re-run with the same transaction ID sends the same ciphertext).
 * A 5xx or no answer may have been taken.
 */
function isRefusal(error: unknown): boolean {
  return error instanceof MatrixError && error.status >= 400 && error.status < 500 && !isRateLimit(error);
}

/** The server's M_TOO_LARGE as what it is: input too large (usage), with the limit said. */
function tooLargeAsUsage(error: unknown, roomId: string): unknown {
  if (error instanceof MatrixError && (error.errcode === 'M_TOO_LARGE' || error.status === 413)) {
    return new MxError(
      `send to ${roomId}: the server refused the event as too large (M_TOO_LARGE); a whole event, ` +
        `envelope included, may be at most ${MAX_EVENT_BYTES} bytes: shorten it or send it as a file with --file`,
      ExitCode.usage,
      error.details,
      { cause: error },
    );
  }
  return error;
}
