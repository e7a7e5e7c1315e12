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
// Interactive verification (verification.ts), SAS (emoji) only, as Element's verification
// panel does it; each flow is a PeerVerification:
//
//   const asked = await fresh.requestOwnVerification();                 // to the user's other devices ({ deviceId } for one)
//   const answering = await old.waitForVerificationRequest({ from: old.userId }); // an earlier one counts too
//   await answering.accept();                                           // m.key.verification.ready
//   await asked.start();                                                // m.key.verification.start, once ready; optional
//   const sas = await answering.waitForSas();                           // { emoji: [{ symbol: '🐶', name: 'Dog' }, ...], decimals: [n, n, n] }
//   await Promise.all([asked.confirm(), answering.confirm()]);          // each resolves when its MAC is sent
//   await Promise.all([asked.waitForDone(), answering.waitForDone()]);
//
// Between users: `alice.requestUserVerification(bob.userId, dmRoomId)`, in the room. Else
// `mismatch()` (m.mismatched_sas), `cancel()` (m.user), `waitForCancel()` → { code, reason, byUs },
// `phase` ('requested' | 'ready' | 'started' | 'done' | 'cancelled'), `waitForPhase()`. Hostile
// peers: `cancel(code, reason)` and `sendRaw(type, content)` send past the SDK into the flow;
// `peer.sendRawToDevice()` and `peer.sendRawRoomEvent()` send anything, unencrypted.
// What the SDK does, as seen on the wire (matrix-js-sdk 37.5.0, matrix-sdk-crypto-wasm 14.2.1):
// - It sends every verification message unencrypted: to-device m.key.verification.* as they
//   are, and in a room (encrypted or not) the request as a clear m.room.message (msgtype
//   m.key.verification.request) and every later event in the clear, with its m.reference.
// - It takes encrypted ones too: Olm-encrypted to-device messages (from any device, even with
//   `asElement`), and in a room Megolm events once decrypted. An `asElement` peer cannot decrypt
//   a room event from a device its owner did not cross-sign (UNSIGNED_SENDER_DEVICE), so an
//   encrypted in-room request from such a device never reaches it; a clear one does.
// - It never sends start on its own: after ready both sides wait. start() is the test's (the
//   SDK throws "other device is unknown" before the ready, so start() waits for it). When the
//   other side starts, the peer answers with m.key.verification.accept at once (verifier.verify(),
//   as Element's panel does), so a test can accept and leave the start to mx.
// - When both sides start, the start of the smaller user ID wins (same user: the smaller device
//   ID), as the spec says: the other SDK drops its own and accepts; both show the same SAS.
// - request.cancel() ignores code and reason (always m.user); other codes only through the SAS
//   (mismatch) or raw. A received cancel keeps its code, but its reason is replaced by the SDK's
//   words for the code ("Unknown cancel reason" for codes it does not know); an in-room cancel
//   as sent is in seenEvents(). The SDK's request tells neither the reason nor, between two
//   devices of one user, which side cancelled: PeerVerification reads both from the Rust object
//   underneath.
// - The SDK keeps its requests only weakly (a dropped one stops changing): PeerVerification and
//   the peer hold every request they hand out.
// - After a self-verification the new device asks the others for the secrets (m.secret.request
//   to '*': cross-signing keys, backup key) and the old one sends them, Olm-encrypted.
// - A verification signs a device or identity, but the peer counts the signature only after
//   the upload and a fresh /keys/query: poll deviceSignedByOwner() and userIdentityVerified()
//   (expect.poll) rather than checking once right after waitForDone().
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
export { PeerVerification } from './verification.js';
export type { PeerSas, PeerCancel, VerificationPhaseName } from './verification.js';
export { downloadAndDecrypt, encryptAndUpload, downloadMedia, parseMxc } from './attachments.js';
export type { EncryptedFile } from './attachments.js';
