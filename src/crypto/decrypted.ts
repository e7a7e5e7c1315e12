/**
 * How a decrypted (or undecryptable) room event looks to mx's users. A decrypted event comes
 * out in place, as the clear event: its `type` and `content` are the plaintext's, its
 * `event_id`, `sender`, `origin_server_ts`, `unsigned` and `room_id` the envelope's, plus one
 * field, `encryption`, saying that it was encrypted and how. An event that cannot be decrypted
 * stays `m.room.encrypted`, with `encryption.decrypted: false` and a reason. So
 * `mx tail | jq 'select(.type=="m.room.message")'` reads encrypted and plain rooms alike.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import type { ClientEvent } from '../matrix/rooms.js';
import { isRecord } from '../matrix/shape.js';
import type { IdentityTrust } from './sender-trust.js';
import { withheldWords } from './withheld-words.js';

/** The `encryption` field of an event that came encrypted. */
export interface EncryptionInfo {
  algorithm: string;
  decrypted: boolean;
  /** Decrypted: the device that sent it, its Curve25519 key, the Megolm session. */
  sender_device?: string;
  sender_key?: string;
  session_id?: string;
  /** Decrypted: whether the sending device is verified by its owner (cross-signed). */
  verified?: boolean;
  /** Decrypted: whether mx trusts the sender's identity (sender-trust.ts). */
  identity?: IdentityTrust;
  /** Not decrypted: why (one of UNDECRYPTABLE_REASONS), and in words (the engine's, or for `withheld` mx's). */
  reason?: UndecryptableReason;
  message?: string;
  /** Withheld: the code the sender gave (m.unverified, m.blacklisted, ...), and the engine's own words. */
  withheld_code?: string;
  engine_message?: string;
}

/** Why an event stays encrypted, beyond its reason: words, and for a withheld key its code and the engine's words. */
export type Explanation = Required<Pick<EncryptionInfo, 'message'>> & Pick<EncryptionInfo, 'withheld_code' | 'engine_message'>;

const UNDECRYPTABLE_REASONS = [
  /** No key for its session has reached this device (not shared with it, or not yet). */
  'missing_key',
  /** The sender's device said it will not share the key (its code in `withheld_code`, what it means in `message`). */
  'withheld',
  /** The key is known from a later message index on only (joined later, or a partial key). */
  'unknown_index',
  /** The same message index was seen before with other content: a replay. */
  'replayed',
  /** The key came from a device mx does not know, or one its owner has not signed. */
  'unknown_device',
  'unsigned_device',
  /** The sender's identity or keys do not match what mx knows of them. */
  'mismatched_sender',
  /** Not a well-formed m.room.encrypted event (missing or wrong fields). */
  'malformed',
  /** An algorithm other than m.megolm.v1.aes-sha2. */
  'unsupported_algorithm',
  /** This session has no crypto store (MX_ACCESS_TOKEN without a profile). */
  'no_crypto_store',
  /** Anything else the engine refused. */
  'unable_to_decrypt',
] as const;
export type UndecryptableReason = (typeof UNDECRYPTABLE_REASONS)[number];

export const MEGOLM = 'm.megolm.v1.aes-sha2';

/** A room event as the server sends it, and as mx hands it on (with `encryption` when it came encrypted). */
export type RoomEvent = ClientEvent & { encryption?: EncryptionInfo };

/** An m.room.encrypted event (whatever else a server's list of events holds: null, a number). */
export function isEncryptedEvent(event: unknown): event is RoomEvent {
  return isRecord(event) && event.type === 'm.room.encrypted';
}

/** The clear event: the plaintext's type and content in the envelope of the encrypted one. */
export function clearEvent(encrypted: RoomEvent, plaintext: { type?: unknown; content?: unknown }, info: EncryptionInfo): RoomEvent {
  const content = isRecord(plaintext.content) ? { ...plaintext.content } : {};
  // Relations stay outside the ciphertext (the spec says so, so the server can aggregate them):
  // a client puts them back into the clear content.
  const relation = encrypted.content['m.relates_to'];
  if (relation !== undefined && content['m.relates_to'] === undefined) content['m.relates_to'] = relation;
  const { content: _content, type: _type, encryption: _old, ...envelope } = encrypted;
  return { ...envelope, type: typeof plaintext.type === 'string' ? plaintext.type : encrypted.type, content, encryption: info };
}

/** The event as it came, with why it could not be decrypted (words, or an Explanation with more). */
export function undecryptable(event: RoomEvent, reason: UndecryptableReason, why: string | Explanation): RoomEvent {
  const algorithm = isRecord(event.content) && typeof event.content.algorithm === 'string' ? event.content.algorithm : 'unknown';
  const explanation = typeof why === 'string' ? { message: why } : why;
  return { ...event, encryption: { algorithm, decrypted: false, reason, ...explanation } };
}

/** What reasonOf reads of the engine's MegolmDecryptionError (which only the engine can make). */
export interface EngineDecryptionError {
  code: Sdk.DecryptionErrorCode;
  description: string;
  withheldCode?: string | undefined;
}

/**
 * The reason for one of the engine's decryption errors, and its `message`: words, or an
 * Explanation when there is more to say (a withheld key); undecryptable() takes either.
 */
export function reasonOf(sdk: typeof Sdk, error: unknown): { reason: UndecryptableReason; message: string | Explanation } {
  if (!(error instanceof sdk.MegolmDecryptionError)) {
    return { reason: 'malformed', message: error instanceof Error ? error.message : String(error) };
  }
  return reasonOfEngineError(sdk.DecryptionErrorCode, error);
}

/** The reason for a MegolmDecryptionError's code: `codes` is the engine's DecryptionErrorCode. */
export function reasonOfEngineError(
  codes: typeof Sdk.DecryptionErrorCode,
  error: EngineDecryptionError,
): { reason: UndecryptableReason; message: string | Explanation } {
  const message = error.description;
  switch (error.code) {
    case codes.MissingRoomKey:
      return error.withheldCode
        ? { reason: 'withheld', message: { withheld_code: error.withheldCode, message: withheldWords(error.withheldCode), engine_message: message } }
        : { reason: 'missing_key', message };
    case codes.UnknownMessageIndex:
      return { reason: 'unknown_index', message };
    case codes.UnknownSenderDevice:
      return { reason: 'unknown_device', message };
    case codes.UnsignedSenderDevice:
      return { reason: 'unsigned_device', message };
    case codes.MismatchedIdentityKeys:
    case codes.MismatchedSender:
    case codes.SenderIdentityVerificationViolation:
      return { reason: 'mismatched_sender', message };
    default:
      // The engine reports a replayed message index as a plain decryption failure.
      return { reason: /replay/i.test(message) ? 'replayed' : 'unable_to_decrypt', message };
  }
}
