/** Readable room names for people: an alias or name, else the room ID. */
import type { MatrixClient } from '../matrix/http.js';
import { getRoomStateWithKey } from '../matrix/rooms.js';

/**
 * Room names for text lines: the alias the user gave, else the room's canonical alias or name
 * (asked once per room, kept for the run), else the room ID.
 */
export class RoomLabels {
  private readonly labels = new Map<string, string>();

  constructor(
    private readonly client: MatrixClient,
    given: Iterable<[roomId: string, label: string]> = [],
  ) {
    for (const [roomId, label] of given) this.labels.set(roomId, label);
  }

  async label(roomId: string): Promise<string> {
    let label = this.labels.get(roomId);
    if (label === undefined) {
      label = (await this.lookUp(roomId)) ?? roomId;
      this.labels.set(roomId, label);
    }
    return label;
  }

  /** Keeps labels current when the stream itself names or renames a room. */
  learn(event: { type: string; room_id?: unknown; state_key?: unknown; content?: unknown }): void {
    const { type, room_id: roomId } = event;
    const content = event.content as Record<string, unknown> | undefined;
    if (typeof roomId !== 'string' || event.state_key !== '') return;
    if (type === 'm.room.canonical_alias' && typeof content?.alias === 'string') this.labels.set(roomId, content.alias);
    else if (type === 'm.room.name' && typeof content?.name === 'string' && content.name && !this.labels.get(roomId)?.startsWith('#')) {
      this.labels.set(roomId, content.name);
    }
  }

  /** A label only if one is known already (no request). */
  known(roomId: string): string | undefined {
    return this.labels.get(roomId);
  }

  private async lookUp(roomId: string): Promise<string | undefined> {
    try {
      const alias = await getRoomStateWithKey(this.client, roomId, 'm.room.canonical_alias');
      if (typeof alias?.alias === 'string' && alias.alias) return alias.alias;
      const name = await getRoomStateWithKey(this.client, roomId, 'm.room.name');
      if (typeof name?.name === 'string' && name.name) return name.name;
    } catch {
      // A label is a nicety: an invite or a left room may not let us read its state.
    }
    return undefined;
  }
}
