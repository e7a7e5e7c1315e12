/**
 * A withheld room key in words. A sender's device that does not share a room key with a device
 * may say so and why, in an `m.room_key.withheld` to-device message with a `code`; the engine
 * keeps that code and names it when an event of that session cannot be decrypted. mx shows the
 * code as the spec defines it, and what the reader can do about it.
 */

/** What each code of the spec (m.room_key.withheld) means for this device, and the way out when there is one. */
const WITHHELD_WORDS: Record<string, string> = {
  'm.unverified':
    "the sender's client shares room keys only with devices verified by their owner (cross-signed), and this device is not: " +
    'run `mx crypto recover` (with the recovery key) or, on an account without one, `mx crypto setup` to have it cross-signed; ' +
    'messages sent after that can be read',
  'm.blacklisted': "the sender's client has blocked this device (or its user) from its room keys; only the sender can undo that",
  'm.unauthorised':
    "the sender's client does not allow this device to have the key (for example, it was not in the room when the message was sent)",
  'm.unavailable':
    'the device asked for the key does not have it; the key backup may: `mx crypto recover`',
  'm.no_olm':
    "the sender's device could not set up a secure channel (an Olm session) to this device, usually because the server had " +
    "none of this device's one-time keys left, so it could send it no room keys",
  'm.history_not_shared': 'the sender did not mark the key as one to share with members who join later',
};

/** The words for a withheld code: the spec's meaning and the remedy, or for a code the spec does not define, that code. */
export function withheldWords(code: string): string {
  return Object.hasOwn(WITHHELD_WORDS, code) ? WITHHELD_WORDS[code]! : `the sender's client did not share the key (its code: ${code})`;
}
