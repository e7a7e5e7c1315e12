/** Readable room names for people: an alias or name, else the room ID. */
import type { MatrixClient } from '../matrix/http.js';
import { getRoomStateWithKey } from '../matrix/rooms.js';
import { safeText } from '../output/safe-text.js';

/**
 * Room names for text lines: the alias the user gave, else the room's canonical alias or name
 * (learnt from the events the stream carries, or asked once per room and kept for the run),
 * else the room ID. A label is shown to people beside mx's own text, so it is kept made safe
 * (safe-text.ts): a room name cannot act on the terminal nor break its line.
 */
export class RoomLabels {
  private readonly labels = new Map<string, string>();

  constructor(
    private readonly client: MatrixClient,
    given: Iterable<[roomId: string, label: string]> = [],
  ) {
    for (const [roomId, label] of given) this.set(roomId, label);
  }

  async label(roomId: string): Promise<string> {
    let label = this.labels.get(roomId);
    if (label === undefined) {
      label = (await this.lookUp(roomId)) ?? safeText(roomId);
      this.labels.set(roomId, label);
    }
    return label;
  }

  /** Keeps labels current when the stream itself names or renames a room. */
  learn(event: { type?: unknown; room_id?: unknown; state_key?: unknown; content?: unknown }): void {
    const { type, room_id: roomId } = event;
    const content = event.content as Record<string, unknown> | null | undefined;
    if (typeof roomId !== 'string' || event.state_key !== '') return;
    if (type === 'm.room.canonical_alias' && typeof content?.alias === 'string' && content.alias) this.set(roomId, content.alias);
    else if (type === 'm.room.name' && typeof content?.name === 'string' && content.name && !this.labels.get(roomId)?.startsWith('#')) {
      this.set(roomId, content.name);
    }
  }

  /**
   * A room without a name or an alias is called after some of its members (the sync's room
   * summary names them: its heroes), unless it has a label already.
   */
  learnHeroes(roomId: string, heroes: string[]): void {
    if (heroes.length > 0 && !this.labels.has(roomId)) this.set(roomId, heroes.join(', '));
  }

  /** A label only if one is known already (no request). */
  known(roomId: string): string | undefined {
    return this.labels.get(roomId);
  }

  private set(roomId: string, label: string): void {
    this.labels.set(roomId, safeText(label));
  }

  private async lookUp(roomId: string): Promise<string | undefined> {
    try {
      const alias = await getRoomStateWithKey(this.client, roomId, 'm.room.canonical_alias');
      if (typeof alias?.alias === 'string' && alias.alias) return safeText(alias.alias);
      const name = await getRoomStateWithKey(this.client, roomId, 'm.room.name');
      if (typeof name?.name === 'string' && name.name) return safeText(name.name);
    } catch {
      // A label is a nicety: an invite or a left room may not let us read its state.
    }
    return undefined;
  }
}
