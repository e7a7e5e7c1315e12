/**
 * Where a verification's messages come from, for the process that goes through it: its own
 * syncs (to-device messages go through the store's engine as every sync's do, verification
 * messages among them to the inbox; room events of the watched rooms are decrypted there), and
 * the inbox, where every process of the profile puts the verification messages it received.
 *
 * The link syncs with a position of its own, never the profile's stream position: a verification
 * moves no `mx tail`. Each answer's to-device messages are processed and saved before the next
 * sync acknowledges them (CryptoSession.receiveSync).
 */
import type { MatrixClient } from '../../matrix/http.js';
import { isRecord, objectsIn } from '../../matrix/shape.js';
import { roomsOf, sync, type SyncResponse } from '../../matrix/sync.js';
import { isEncryptedEvent, type RoomEvent } from '../decrypted.js';
import type { CryptoSession } from '../session.js';
import { isVerificationType, readInbox, type VerificationToDevice } from './inbox.js';

/** A verification event of a room, decrypted, with its room. */
export interface RoomVerificationEvent {
  roomId: string;
  event: RoomEvent;
}

/** What one pump brought: the new verification messages, and local requests to cancel (`mx verify cancel`). */
export interface Arrivals {
  toDevice: VerificationToDevice[];
  roomEvents: RoomVerificationEvent[];
  cancels: string[];
}

/** A room message that is a verification request (in-room verification starts with one). */
export function isRoomRequest(event: { type?: unknown; content?: unknown }): boolean {
  return event.type === 'm.room.message' && isRecord(event.content) && event.content.msgtype === 'm.key.verification.request';
}

export class VerificationLink {
  private since: string | undefined;
  private readonly seen = new Set<string>();

  /**
   * `rooms`: the rooms whose timelines may carry the verification ('all' while a request is
   * awaited); `lookBack`: room events a first sync brings from before it (a request that came
   * before `mx verify accept` started).
   */
  constructor(
    private readonly session: CryptoSession,
    private readonly client: MatrixClient,
    private rooms: string[] | 'all',
    private readonly now: () => number,
    private readonly lookBack = 0,
  ) {}

  /** From now on only this room's events are read (the request was found). */
  watchOnly(rooms: string[]): void {
    this.rooms = rooms;
  }

  /**
   * One sync (a long poll of up to `timeoutMs`, ended early by `wake`), then the inbox. The
   * first call asks from now (with `lookBack` events of each room).
   */
  async pump(timeoutMs: number, wake?: AbortSignal): Promise<Arrivals> {
    const first = this.since === undefined;
    let response: SyncResponse | undefined;
    try {
      const signal = wake ? AbortSignal.any([wake, ...(this.client.signal ? [this.client.signal] : [])]) : this.client.signal;
      response = await sync({ ...this.client, signal }, { since: this.since, timeout: first ? 0 : timeoutMs, filter: this.filter(first ? this.lookBack : 50) });
    } catch (error) {
      // Woken (an answer came): nothing of that sync was received, so nothing is lost.
      if (!wake?.aborted || this.client.signal?.aborted) throw error;
    }
    const roomEvents: RoomVerificationEvent[] = [];
    if (response) {
      await this.session.receiveSync(response);
      this.since = response.next_batch;
      for (const [roomId, room] of roomsOf(response, 'join')) {
        const events = objectsIn<RoomEvent>(isRecord(room.timeline) && Array.isArray(room.timeline.events) ? room.timeline.events : []);
        const candidates = events.filter((e) => isVerificationType(e.type) || isRoomRequest(e) || isEncryptedEvent(e));
        if (candidates.length === 0) continue;
        for (const event of await this.session.decryptEvents(roomId, candidates)) {
          if ((isVerificationType(event.type) || isRoomRequest(event)) && !this.seen.has(String(event.event_id))) {
            this.seen.add(String(event.event_id));
            roomEvents.push({ roomId, event });
          }
        }
      }
    }
    const toDevice: VerificationToDevice[] = [];
    const cancels: string[] = [];
    for (const entry of readInbox(this.session.ref.folder, this.now())) {
      if (this.seen.has(entry.id)) continue;
      this.seen.add(entry.id);
      if (entry.event) toDevice.push(entry.event);
      if (entry.cancel) cancels.push(entry.cancel);
    }
    return { toDevice, roomEvents, cancels };
  }

  /** Room events of the watched rooms (message types only), nothing else of rooms; all of to-device. */
  private filter(limit: number): string {
    const types = ['m.room.message', 'm.room.encrypted', 'm.key.verification.*'];
    return JSON.stringify({
      presence: { not_types: ['*'] },
      account_data: { not_types: ['*'] },
      room: {
        ...(this.rooms === 'all' ? {} : { rooms: this.rooms }),
        state: { types: [] },
        ephemeral: { not_types: ['*'] },
        account_data: { not_types: ['*'] },
        timeline: { limit, types },
      },
    });
  }
}
