// Why an event stays encrypted, as mx tells it: the engine's decryption errors mapped to
// mx's reasons, a withheld key's code in plain words, and the text line people read.
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { reasonOf, reasonOfEngineError, undecryptable, type RoomEvent } from '../../src/crypto/decrypted.js';
import { withheldWords } from '../../src/crypto/withheld-words.js';
import { colours } from '../../src/output/colour.js';
import { formatEventLine, summarizeEvent } from '../../src/output/event-summary.js';
import { Output } from '../../src/output/output.js';
import { fakeIo } from './fake-io.js';

const codes = sdk.DecryptionErrorCode;
/** The engine's wording for a withheld key (as Element's m.unverified reached mx's device, against Synapse). */
const ENGINE_WITHHELD = 'Can\'t find the room key to decrypt the event, withheld code: Some("m.unverified")';

const encrypted: RoomEvent = {
  event_id: '$e',
  type: 'm.room.encrypted',
  sender: '@element:hs',
  origin_server_ts: Date.UTC(2026, 10, 27, 12, 0, 1),
  room_id: '!r:hs',
  content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AwgA', session_id: 'S', sender_key: 'K', device_id: 'D' },
};

function withheldEvent(code: string): RoomEvent {
  const { reason, message } = reasonOfEngineError(codes, { code: codes.MissingRoomKey, description: ENGINE_WITHHELD, withheldCode: code });
  return undecryptable(encrypted, reason, message);
}

describe('reasons for the engine\'s decryption errors', () => {
  beforeAll(async () => {
    await sdk.initAsync();
  });

  it('a withheld key: its code, mx\'s words for it, and the engine\'s own words apart', () => {
    expect(withheldEvent('m.unverified').encryption).toEqual({
      algorithm: 'm.megolm.v1.aes-sha2',
      decrypted: false,
      reason: 'withheld',
      withheld_code: 'm.unverified',
      message: withheldWords('m.unverified'),
      engine_message: ENGINE_WITHHELD,
    });
  });

  it('each code of the spec in words, with the way out where there is one; another code named as it came', () => {
    expect(withheldWords('m.unverified')).toMatch(/^the sender's client shares room keys only with devices verified by their owner \(cross-signed\), and this device is not: run `mx crypto recover` \(with the recovery key\) or, on an account without one, `mx crypto setup`/);
    expect(withheldWords('m.blacklisted')).toMatch(/has blocked this device \(or its user\)/);
    expect(withheldWords('m.unauthorised')).toMatch(/does not allow this device to have the key \(for example, it was not in the room when the message was sent\)/);
    expect(withheldWords('m.unavailable')).toMatch(/the device asked for the key does not have it; the key backup may: `mx crypto recover`/);
    expect(withheldWords('m.no_olm')).toMatch(/could not set up a secure channel \(an Olm session\) to this device/);
    expect(withheldWords('m.history_not_shared')).toMatch(/did not mark the key as one to share with members who join later/);
    expect(withheldWords('org.example.policy')).toBe("the sender's client did not share the key (its code: org.example.policy)");
    // Not a key of the table's prototype either.
    expect(withheldWords('constructor')).toBe("the sender's client did not share the key (its code: constructor)");
  });

  it('the other errors keep the engine\'s words', () => {
    const of = (code: sdk.DecryptionErrorCode, description = 'engine words') => reasonOfEngineError(codes, { code, description });
    expect(of(codes.MissingRoomKey)).toEqual({ reason: 'missing_key', message: 'engine words' });
    expect(of(codes.UnknownMessageIndex)).toEqual({ reason: 'unknown_index', message: 'engine words' });
    expect(of(codes.UnknownSenderDevice)).toEqual({ reason: 'unknown_device', message: 'engine words' });
    expect(of(codes.UnsignedSenderDevice)).toEqual({ reason: 'unsigned_device', message: 'engine words' });
    expect(of(codes.MismatchedSender)).toEqual({ reason: 'mismatched_sender', message: 'engine words' });
    expect(of(codes.UnableToDecrypt, 'the message index was replayed')).toEqual({ reason: 'replayed', message: 'the message index was replayed' });
    // An error the engine made itself, and anything else thrown.
    expect(reasonOf(sdk, sdk.MegolmDecryptionError.unable_to_decrypt('bad MAC'))).toEqual({ reason: 'unable_to_decrypt', message: 'bad MAC' });
    expect(reasonOf(sdk, new Error('not JSON'))).toEqual({ reason: 'malformed', message: 'not JSON' });
    expect(undecryptable(encrypted, 'missing_key', 'no key').encryption).toEqual({ algorithm: 'm.megolm.v1.aes-sha2', decrypted: false, reason: 'missing_key', message: 'no key' });
  });
});

describe('an undecryptable event in text', () => {
  it('a withheld key reads as its code and mx\'s words, not the engine\'s; other reasons as before', () => {
    expect(summarizeEvent(withheldEvent('m.unverified'))).toBe(`[unable to decrypt: withheld (m.unverified): ${withheldWords('m.unverified')}]`);
    expect(formatEventLine(withheldEvent('m.blacklisted'), colours(false))).toBe(
      `2026-11-27 12:00:01  @element:hs  [unable to decrypt: withheld (m.blacklisted): ${withheldWords('m.blacklisted')}]`,
    );
    expect(summarizeEvent(undecryptable(encrypted, 'missing_key', 'no key'))).toBe('[unable to decrypt: missing_key]');
    expect(summarizeEvent(encrypted)).toBe('[unable to decrypt: not decrypted]');
  });

  it('a code a sender made up cannot act on the terminal; JSON keeps it exact', async () => {
    const hostile = 'x\x1b]0;T\x07\u202eevil\nnext';
    const event = withheldEvent(hostile);
    const io = fakeIo({ stdoutIsTTY: true, env: { NO_COLOR: '1' } });
    await new Output(io, 'text').item(event, (e, c) => formatEventLine(e, c));
    expect(io.out()).toContain('withheld (x^[]0;T^G<U+202E>evil next): the sender\'s client did not share the key (its code: x^[]0;T^G<U+202E>evil next)');
    expect(io.out()).not.toMatch(/[\x1b\x07\u202e]/);
    const piped = fakeIo();
    await new Output(piped, 'json').item(event, (e, c) => formatEventLine(e, c));
    expect(JSON.parse(piped.out()).encryption.withheld_code).toBe(hostile);
  });
});
