/**
 * Encryption as the stream commands (tail, sync, room messages) meet it: the crypto parts of
 * each sync answer are fed to the engine, and encrypted room events are decrypted in place.
 * The engine is loaded only when an answer needs it (to-device messages, device list changes,
 * one-time keys running low, an encrypted event): a stream of plain rooms never loads it.
 */
import { ExitCode, MxError } from '../errors.js';
import type { SyncResponse } from '../matrix/sync.js';
import { undecryptable, type RoomEvent } from './decrypted.js';
import { needsEngine, type CryptoSession } from './session.js';

export class SyncCrypto {
  private session: Promise<CryptoSession> | undefined;
  /** Why this session has no crypto store, once found out (then events stay encrypted). */
  private unavailable: string | undefined;

  /**
   * `catchUp`: before the first decryption, fetch the to-device messages since the store's own
   * position (room keys that came while no mx was syncing), as `room messages`, which does not
   * sync itself, needs. A stream that syncs (tail, sync) gets them in its own answers.
   */
  constructor(
    private readonly open: () => Promise<CryptoSession>,
    private catchUp = false,
  ) {}

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
    if (!events.some((event) => event.type === 'm.room.encrypted')) return events;
    const session = await this.available();
    if (session && this.catchUp) {
      this.catchUp = false;
      await session.catchUp();
    }
    if (!session) {
      return events.map((event) => (event.type === 'm.room.encrypted' ? undecryptable(event, 'no_crypto_store', this.unavailable!) : event));
    }
    return session.decryptEvents(roomId, events);
  }

  /** Decrypts, in place, the timelines of a sync answer's rooms (`mx sync` prints the answer itself). */
  async decryptTimelines(response: SyncResponse): Promise<void> {
    const rooms = response.rooms ?? {};
    for (const [roomId, room] of [...Object.entries(rooms.join ?? {}), ...Object.entries(rooms.leave ?? {})]) {
      if (room.timeline?.events) room.timeline.events = await this.decrypt(roomId, room.timeline.events);
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
