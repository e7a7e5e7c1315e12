/**
 * Encryption as the stream commands (tail, sync, room messages) meet it: the crypto parts of
 * each sync answer are fed to the engine, and encrypted room events are decrypted in place.
 * The engine is loaded only when an answer needs it (to-device messages, device list changes,
 * one-time keys running low, an encrypted event): a stream of plain rooms never loads it.
 */
import { ExitCode, MxError } from '../errors.js';
import { isRecord, objectsIn } from '../matrix/shape.js';
import { roomsOf, type SyncResponse } from '../matrix/sync.js';
import { isEncryptedEvent, undecryptable, type RoomEvent } from './decrypted.js';
import { needsEngine, type CryptoSession } from './session.js';

/**
 * How a stream waits for room keys that have not come yet: the sender's to-device message with
 * the key can arrive after its room event (across federation, say).
 */
export interface KeyWait {
  /** How long after an event came it is held back, at most, waiting for its key. */
  ms: number;
  signal: AbortSignal;
  now: () => number;
}

/**
 * Only events sent this recently are waited for: an older one's key would have come by now
 * (a tail catching up on a backlog does not stop at each). By the sender's server's clock.
 */
const KEY_WAIT_RECENT_MS = 60_000;

export class SyncCrypto {
  private session: Promise<CryptoSession> | undefined;
  /** Why this session has no crypto store, once found out (then events stay encrypted). */
  private unavailable: string | undefined;
  private catchUp: boolean;
  private readonly keyWait: KeyWait | undefined;
  /** Megolm sessions whose key was waited for in vain: not waited for again. */
  private readonly gaveUp = new Set<string>();

  /**
   * `catchUp`: before the first decryption, fetch the to-device messages since the store's own
   * position (room keys that came while no mx was syncing), as `room messages`, which does not
   * sync itself, needs. A stream that syncs (tail, sync) gets them in its own answers.
   * `keyWait`: events whose room key is missing are held back a moment for it (tail).
   */
  constructor(
    private readonly open: () => Promise<CryptoSession>,
    options: { catchUp?: boolean; keyWait?: KeyWait } = {},
  ) {
    this.catchUp = options.catchUp ?? false;
    this.keyWait = options.keyWait;
  }

  /**
   * The answer's to-device messages, device list changes and key counts, processed and saved.
   * Call it before the answer's events, and before any sync from its next_batch (which
   * acknowledges the to-device messages to the server: they would be gone).
   */
  async receiveSync(response: SyncResponse): Promise<void> {
    if (!needsEngine(response) && !this.session) return;
    const session = await this.available();
    await session?.receiveSync(response);
  }

  /** The events with every m.room.encrypted one decrypted, or annotated with why it is not. */
  async decrypt(roomId: string, events: RoomEvent[]): Promise<RoomEvent[]> {
    if (!events.some(isEncryptedEvent)) return events;
    const session = await this.available();
    if (session && this.catchUp) {
      this.catchUp = false;
      await session.catchUp();
    }
    if (!session) {
      return events.map((event) => (isEncryptedEvent(event) ? undecryptable(event, 'no_crypto_store', this.unavailable!) : event));
    }
    const decrypted = await session.decryptEvents(roomId, events);
    return this.keyWait ? this.waitForMissingKeys(session, roomId, events, decrypted, this.keyWait) : decrypted;
  }

  /**
   * Holds back the events whose room key is missing while the key may still come: crypto-only
   * long polls (keys processed and saved as they arrive), each followed by another try, until
   * all decrypt or `keyWait.ms` has passed. Bounded: only recent events, and a Megolm session
   * waited for in vain once is not waited for again. What still fails keeps its reason.
   */
  private async waitForMissingKeys(session: CryptoSession, roomId: string, originals: RoomEvent[], decrypted: RoomEvent[], keyWait: KeyWait): Promise<RoomEvent[]> {
    const { ms, signal, now } = keyWait;
    const out = [...decrypted];
    const started = now();
    let waiting = out.flatMap((event, i) => (this.worthWaitingFor(event, started) ? [i] : []));
    const deadline = started + ms;
    while (waiting.length > 0 && now() < deadline) {
      await session.waitForToDevice(deadline - now(), signal);
      const again = await session.decryptEvents(roomId, waiting.map((i) => originals[i]!));
      waiting.forEach((i, k) => (out[i] = again[k]!));
      waiting = waiting.filter((i) => out[i]!.encryption?.reason === 'missing_key');
    }
    for (const i of waiting) this.gaveUp.add(megolmSessionId(out[i]!));
    return out;
  }

  private worthWaitingFor(event: RoomEvent, now: number): boolean {
    return (
      event.encryption?.reason === 'missing_key' &&
      !this.gaveUp.has(megolmSessionId(event)) &&
      typeof event.origin_server_ts === 'number' &&
      event.origin_server_ts > now - KEY_WAIT_RECENT_MS
    );
  }

  /** Decrypts, in place, the timelines of a sync answer's rooms (`mx sync` prints the answer itself). */
  async decryptTimelines(response: SyncResponse): Promise<void> {
    for (const [roomId, room] of [...roomsOf(response, 'join'), ...roomsOf(response, 'leave')]) {
      const timeline: unknown = room.timeline;
      if (!isRecord(timeline) || !Array.isArray(timeline.events)) continue;
      // Entries that are no event (null, a number) stay where they are, as the server sent them.
      const list = timeline.events as unknown[];
      const events = objectsIn<RoomEvent>(list);
      const decrypted = new Map(events.map((event, i) => [event as unknown, i]));
      const out = await this.decrypt(roomId, events);
      timeline.events = list.map((entry) => (decrypted.has(entry) ? out[decrypted.get(entry)!] : entry));
    }
  }

  /** The session, or undefined when this login cannot have one (MX_ACCESS_TOKEN alone). */
  private async available(): Promise<CryptoSession | undefined> {
    if (this.unavailable) return undefined;
    try {
      return await (this.session ??= this.open());
    } catch (error) {
      // Only "this session has no keys" (exit code 9) is a state to live with; anything else
      // (a damaged store, the network) is an error of the command.
      if (!(error instanceof MxError) || error.exitCode !== ExitCode.encryption) throw error;
      this.session = undefined;
      this.unavailable = error.message;
      return undefined;
    }
  }
}

function megolmSessionId(event: RoomEvent): string {
  return String(event.content.session_id);
}
