// A fixture of the bench's key-count figures (bench/run.mjs, group `crypto`): puts N inbound
// Megolm room keys into the crypto store of an mx profile, the way a device that has been in
// busy encrypted rooms for a long time has them.
//
// Not runnable as it is: it imports mx's TypeScript sources (src/crypto/), and run.mjs bundles
// it with esbuild into its temp dir. It opens the store exactly as mx does (src/crypto/session.ts:
// openPersistentIndexedDb on the profile's store folder, the engine's globals, the inter-process
// lock, StoreHandle.openWithKey with the profile's key, OlmMachine.initFromStore), loading the
// engine from the same file mx loads (dist/vendor/ of the bench's private copy), and imports
// the keys with OlmMachine.importExportedRoomKeys (what restoring a key export does).
//
//   node crypto-fixture.cjs ENGINE STORE_FOLDER KEY_BASE64 USER_ID DEVICE_ID CURVE25519 COUNT
//
// CURVE25519 is the device's identity key as the server has it: the fixture refuses a store
// whose account is another (a wrong folder or store name would otherwise create an empty store
// with a new account, and the figure would measure nothing). Prints one JSON line.
//
// The keys are made here, in the Matrix key-export format (a session_key of the "exported"
// form: version 1, message index 0, a 128-byte ratchet, the session's Ed25519 key): random
// ratchets and real Ed25519 keys, which is what a Megolm session is when it is created. Making
// 10,000 through an OlmMachine (shareRoomKey to 10,000 rooms, then exportRoomKeys) takes ~20 s
// here for the same result.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { openPersistentIndexedDb } from '../src/crypto/persistent-idb.ts';

/** src/crypto/session.ts's STORE_NAME (one store per folder). */
const STORE_NAME = 'mx';
/** The keys come from this many rooms and this many sender devices. */
const ROOMS = 100;
const SENDERS = 50;

const b64 = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '');

function ed25519PublicKey() {
  // The raw 32 bytes are the last 32 of the SPKI DER encoding.
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

export function exportedKeys(count) {
  const senders = Array.from({ length: SENDERS }, () => ({ curve25519: b64(randomBytes(32)), ed25519: b64(ed25519PublicKey()) }));
  const keys = [];
  for (let i = 0; i < count; i++) {
    const sender = senders[i % SENDERS];
    const signing = ed25519PublicKey();
    const index = Buffer.alloc(4); // message index 0
    const sessionKey = Buffer.concat([Buffer.from([1]), index, randomBytes(128), signing]);
    keys.push({
      algorithm: 'm.megolm.v1.aes-sha2',
      room_id: `!bench-keys-${i % ROOMS}:localhost`,
      sender_key: sender.curve25519,
      session_id: b64(signing),
      session_key: b64(sessionKey),
      sender_claimed_keys: { ed25519: sender.ed25519 },
      forwarding_curve25519_key_chain: [],
    });
  }
  return keys;
}

async function main() {
  const [enginePath, folder, keyB64, userId, deviceId, curve25519, countArg] = process.argv.slice(2);
  const count = Number(countArg);
  const t0 = performance.now();
  const sdk = createRequire(__filename)(enginePath);
  await sdk.initAsync();
  const idb = await openPersistentIndexedDb(folder);
  idb.installGlobals();
  const json = JSON.stringify(exportedKeys(count));
  const tMade = performance.now();
  const result = await idb.withLock(async () => {
    const handle = await sdk.StoreHandle.openWithKey(STORE_NAME, new Uint8Array(Buffer.from(keyB64, 'base64')));
    let machine;
    try {
      machine = await sdk.OlmMachine.initFromStore(new sdk.UserId(userId), new sdk.DeviceId(deviceId), handle);
    } finally {
      handle.free();
    }
    try {
      const own = machine.identityKeys.curve25519.toBase64();
      if (own !== curve25519) throw new Error(`the store in ${folder} holds another account (${own}, the server has ${curve25519})`);
      const r = await machine.importExportedRoomKeys(json, () => {});
      return { imported: r.importedCount, total: r.totalCount };
    } finally {
      machine.close();
    }
  });
  await idb.close();
  if (result.imported !== count) throw new Error(`imported ${result.imported} of ${count} keys`);
  process.stdout.write(`${JSON.stringify({ ...result, makeMs: tMade - t0, importMs: performance.now() - tMade })}\n`);
}

main().catch((error) => {
  process.stderr.write(`crypto-fixture: ${error.stack ?? error}\n`);
  process.exit(1);
});
