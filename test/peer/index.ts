// The encryption test peer: a real Matrix client that no one here wrote, playing Element.
//
// mx's encryption tests need the other side of an encrypted conversation to be an
// independent implementation, or mx could agree with itself about a wrong format. The peer
// is matrix-js-sdk (Element Web's SDK) with its Rust crypto (matrix-sdk-crypto-wasm, the
// crypto of Element X and Element Web), driven from vitest against the e2e Synapse:
//
//   const a = await startPeer({ homeserverUrl: homeserverUrl() });          // registers a user
//   const roomId = await a.createEncryptedRoom({ invite: [bobUserId] });
//   await a.waitForMembership(roomId, bobUserId, 'join');
//   await a.sendText(roomId, 'hi');                                         // encrypted by the SDK
//   const [m] = await a.waitForDecryptedMessages(roomId, 1);                // {event_id, sender, type, content, sender_device, ...}
//   await a.stop();
//
// As Element is today: `startPeer({ ..., asElement: true })`. Since 2026 Element (MSC4153,
// "exclude insecure devices") shares room keys only with devices their owner cross-signed and
// refuses messages from the others. Such a peer
// - runs in OnlySignedDevicesIsolationMode (crypto.setDeviceIsolationMode): when it encrypts, a
//   device its owner did not cross-sign gets no room key but an m.room_key.withheld with code
//   m.unverified; when it decrypts, a message from such a device fails with the SDK's
//   DecryptionFailureCode UNSIGNED_SENDER_DEVICE (UNKNOWN_SENDER_DEVICE when the sending device
//   is not known at all): `await peer.waitForUndecryptable(roomId, eventId, 'UNSIGNED_SENDER_DEVICE')`;
// - is itself cross-signed, as Element leaves an account after its first login: a new account
//   gets cross-signing, secret storage and a key backup (setUpRecovery), and `peer.recoveryKey`
//   is the recovery key to hand to mx (`MX_RECOVERY_KEY`, `--recovery-key-file`); a login into
//   an existing account (`user`) must bring `recoveryKey` and is verified with it (recoverWith),
//   as Element does not go on with an unverified new login. startAnotherDevice({ asElement: true })
//   does that with the first device's key.
// Without `asElement` (the default) the peer is the SDK's default: it shares keys with every
// device and decrypts everything, marking doubtful senders with shields, and has no
// cross-signing until a test calls bootstrapCrossSigning() or setUpRecovery().
//
// Encrypted attachments use Element's matrix-encrypt-attachment (see attachments.ts).
// MX_PEER_LOG=debug|info|warn|error prints the SDK's logs (and Rust tracing) to stderr;
// by default they are kept quiet, and timeout errors quote the recent warnings.
//
// Version and Node: matrix-js-sdk is pinned to 37.5.0, the last release whose `engines`
// allows Node 20 (38.0.0 and later say node >= 22). It pulls in matrix-sdk-crypto-wasm 14.2.1.
// Neither uses Promise.withResolvers (checked in node_modules), so no polyfill is needed with
// this version; a newer SDK on Node 20 would need one (`Promise.withResolvers ??= ...`) and
// would be running outside its declared engines.
//
// Store: `initRustCrypto({ useIndexedDB: false })`, the SDK's in-memory crypto store, and the
// default in-memory sync store. No fake-indexeddb, nothing on disk, nothing shared between
// peers in one process; everything is gone at stop(). The limit: a peer cannot be stopped and
// started again as the same device with its keys (a test wanting that needs fake-indexeddb
// and `storageKey`). startAnotherDevice() logs the same user in as a new device instead.
//
// Traps met (and what the peer does about them):
// - Sending into a room the client has not synced yet goes out in the CLEAR, silently
//   (client.encryptEventIfNeeded: "If the room is unknown, we cannot encrypt for it").
//   createEncryptedRoom() waits until its sync has the room and its m.room.encryption, and
//   every send refuses (after waiting up to 10 s) unless the room is known and encrypted.
// - The SDK never encrypts reactions and redactions (on purpose, per the spec discussion).
// - Others can only encrypt for a device once its keys are on the server: startPeer()
//   resolves only when /keys/query lists this device.
// - Decryption is asynchronous: an event arrives as m.room.encrypted and is decrypted in place
//   later; an undecryptable one is retried when its key arrives. waitFor* therefore poll the
//   state of every event seen until the deadline, and the timeout error lists each event with
//   its state and the SDK's DecryptionFailureCode (e.g. HISTORICAL_MESSAGE_NO_KEY_BACKUP for
//   messages sent before this device logged in).
// - The peer's own messages come back as echoes; they are not counted as received (a second
//   device of the same user does count them: they are another device's messages).
// - initRustCrypto switches the Rust side's tracing on at Debug level (to console.debug), and
//   much of the SDK logs through its global loglevel logger rather than the client's
//   `logger` option. Both are redirected (logger.ts, tameRustTracing in peer.ts).
// - Every SDK request with a local time limit (each /sync: 110 s, each crypto request: 60 s)
//   leaves a ref'd setTimeout that is never cleared, keeping the process alive for up to
//   110 s after stopClient(). timers.ts unrefs exactly those timers. stop() also aborts and
//   waits for the requests in flight, so nothing of a stopped peer runs on.
// - Synapse answers 400 to /register with an Authorization header (account.ts sends none).
// - The client runs without lazy-loading members and without thread support, so that every
//   member is known at once and every event lands in the main timeline the peer watches.
// - A sender without cross-signing gets no shield (colour 'none') although its device is not
//   verified: read `verified` for the device's state, `shield` for what Element would show.
export { startPeer, Peer, MEGOLM } from './peer.js';
export type { StartPeerOptions, DecryptedMessage, SeenEvent, MessageMatcher } from './peer.js';
export { downloadAndDecrypt, encryptAndUpload, downloadMedia, parseMxc } from './attachments.js';
export type { EncryptedFile } from './attachments.js';
