// The other process of the tail-throughput figure (bench/run.mjs): sends COUNT messages to a
// room as fast as the server takes them, CONCURRENCY requests in flight, and prints one JSON
// line {"sent", "ms"} when done. Usage: node bench/burst.mjs URL TOKEN ROOM_ID COUNT CONCURRENCY
import { Agent, request } from 'undici';

const [url, token, roomId, countArg, concurrencyArg] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
const base = `${url}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/`;
const run = `burst${process.pid}${Date.now().toString(36)}`;

let next = 0;
async function worker() {
  while (next < count) {
    const i = next++;
    const res = await request(base + `${run}-${i}`, {
      method: 'PUT',
      dispatcher,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ msgtype: 'm.text', body: `burst ${i}` }),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`PUT burst ${i}: HTTP ${res.statusCode} ${text}`);
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
process.stdout.write(`${JSON.stringify({ sent: count, ms: performance.now() - t0 })}\n`);
await dispatcher.close();
