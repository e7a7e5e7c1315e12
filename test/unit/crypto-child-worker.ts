/**
 * A child process for test/unit/crypto-multiprocess.test.ts (bundled by bundleForChildProcess).
 * It reports each result on stdout only once the withLock that produced it has resolved, that
 * is once it is durable: what mx would then send (a sync token, an encrypted event).
 *
 *   writer <folder> <name> <count>  puts <name>-<i> and increments the shared 'counter' key
 *   encrypt <folder> <count>        encrypts in !room:x as @bob:x, printing each Megolm index
 */
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { openPersistentIndexedDb } from '../../src/durable-idb/persistent-idb.js';
import { encrypt as encryptEvent, megolmIndex } from './crypto-olm-harness.js';
import type { IdbDatabase, IdbFactory, IdbRequest, IdbTransaction } from '../../src/durable-idb/idb-types.js';

const [mode, folder, ...rest] = process.argv.slice(2);

function req<T>(r: IdbRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    r.addEventListener('success', () => resolve(r.result as T));
    r.addEventListener('error', () => reject(r.error as Error));
  });
}

function openKv(factory: IdbFactory): Promise<IdbDatabase> {
  return new Promise((resolve, reject) => {
    const r = factory.open('d', 1);
    r.onupgradeneeded = () => (r.result as IdbDatabase).createObjectStore('kv');
    r.onsuccess = () => resolve(r.result as IdbDatabase);
    r.onerror = () => reject(r.error as Error);
  });
}

async function writer(name: string, count: number): Promise<void> {
  const p = await openPersistentIndexedDb(folder!, { staleMs: 2000 });
  for (let i = 0; i < count; i++) {
    await p.withLock(async () => {
      const db = await openKv(p.factory);
      const tx = db.transaction('kv', 'readwrite') as IdbTransaction & { objectStore(n: string): { put(v: unknown, k: unknown): IdbRequest; get(k: unknown): IdbRequest } };
      const store = tx.objectStore('kv');
      store.put({ by: name, i, pad: 'x'.repeat(200) }, `${name}-${i}`);
      const counter = (await req<number | undefined>(store.get('counter'))) ?? 0;
      store.put(counter + 1, 'counter');
      await new Promise<void>((resolve, reject) => {
        tx.addEventListener('complete', () => resolve());
        tx.addEventListener('abort', () => reject(tx.error as Error));
      });
      db.close();
    });
    process.stdout.write(`ack ${name}-${i}\n`);
  }
  await p.close();
}

async function encrypt(count: number): Promise<void> {
  await sdk.initAsync();
  const p = await openPersistentIndexedDb(folder!, { staleMs: 2000 });
  const key = new Uint8Array(32).fill(3);
  let machine: sdk.OlmMachine | undefined;
  for (let i = 0; i < count; i++) {
    const index = await p.withLock(async (changed) => {
      p.installGlobals();
      if (changed || !machine) {
        machine?.close();
        const handle = await sdk.StoreHandle.openWithKey('mx', key);
        machine = await sdk.OlmMachine.initFromStore(new sdk.UserId('@bob:x'), new sdk.DeviceId('BOBDEV'), handle);
        handle.free();
      }
      return megolmIndex(await encryptEvent(machine, '!room:x', `${process.pid} ${i}`));
    });
    process.stdout.write(`index ${index}\n`);
  }
  machine?.close();
  await p.close();
}

try {
  if (mode === 'writer') await writer(rest[0]!, Number(rest[1]));
  else if (mode === 'encrypt') await encrypt(Number(rest[0]));
  else throw new Error(`unknown mode ${mode}`);
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = (err as { exitCode?: number }).exitCode ?? 1;
}
