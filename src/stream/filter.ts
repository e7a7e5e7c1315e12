/**
 * What `mx tail` streams: the sync filter sent to the server (so it sends less), and the same
 * rules applied again to every item before it is written (the server's filter is an
 * optimisation; the client-side check is the contract).
 */
import { UsageError } from '../errors.js';
import { parseEventType, printable } from '../matrix/identifiers.js';
import type { EventFilter, RoomEventFilter, SyncFilter } from '../matrix/sync.js';
import { nodeCrypto } from '../builtins.js';

/** Kinds streamed besides room timelines and invites, which are always streamed. */
export const EXTRA_KINDS = ['state', 'ephemeral', 'account_data', 'presence', 'to_device'] as const;
export type ExtraKind = (typeof EXTRA_KINDS)[number];

export interface TailFilter {
  /** Room IDs (aliases already resolved); undefined: every room. */
  rooms?: string[];
  /** Event type patterns (`*` wildcards); undefined: every type. */
  types?: string[];
  senders?: string[];
  include: ReadonlySet<ExtraKind>;
  /** Timeline events per room per poll; a room with more comes back `limited` and is paged. */
  timelineLimit: number;
}

/** `--include state,presence --include to_device` to a set, checked. */
export function parseIncludes(values: readonly string[] | undefined): Set<ExtraKind> {
  const kinds = new Set<ExtraKind>();
  for (const value of (values ?? []).flatMap((v) => v.split(','))) {
    const kind = value.trim();
    if (!kind) continue;
    if (!(EXTRA_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--include takes ${EXTRA_KINDS.join(', ')} (comma-separated), not "${printable(kind)}"`);
    }
    kinds.add(kind as ExtraKind);
  }
  return kinds;
}

/** `--type` values: event types, or patterns with `*` wildcards (`m.room.*`). */
export function parseTypePatterns(values: readonly string[] | undefined): string[] | undefined {
  if (!values?.length) return undefined;
  return values.map((value) => (value.includes('*') ? checkPattern(value) : parseEventType(value)));
}

function checkPattern(value: string): string {
  // The same grammar as a type, with * allowed anywhere.
  parseEventType(value.replace(/\*/g, 'x'));
  return value;
}

/** `*` matches any run of characters (as the spec's filters say); everything else literally. */
export function matchesPattern(pattern: string, type: string): boolean {
  if (!pattern.includes('*')) return pattern === type;
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return regex.test(type);
}

const NOTHING: EventFilter = { not_types: ['*'] };

/**
 * Event types as the server must filter them: an encrypted event's type is m.room.encrypted
 * until mx decrypts it, so that type always comes too and the clear type is checked here.
 */
export function serverTypes(types: string[]): string[] {
  return types.includes(ENCRYPTED) ? types : [...types, ENCRYPTED];
}
const ENCRYPTED = 'm.room.encrypted';

/** The type rule of a filter (see matchesFilter). */
export function matchesTypes(types: string[], item: { type: string; encryption?: unknown }): boolean {
  const undecrypted = item.type === ENCRYPTED && item.encryption !== undefined;
  return undecrypted || types.some((pattern) => matchesPattern(pattern, item.type));
}

/** The filter for /sync: the timeline as asked, and every kind not asked for switched off. */
export function buildSyncFilter(f: TailFilter): SyncFilter {
  const selection: EventFilter = { ...(f.types ? { types: serverTypes(f.types) } : {}), ...(f.senders ? { senders: f.senders } : {}) };
  const typesOnly: EventFilter = f.types ? { types: f.types } : {};
  return {
    presence: f.include.has('presence') ? selection : NOTHING,
    account_data: f.include.has('account_data') ? typesOnly : NOTHING,
    room: {
      ...(f.rooms ? { rooms: f.rooms } : {}),
      timeline: { limit: f.timelineLimit, ...selection },
      state: f.include.has('state') ? selection : NOTHING,
      ephemeral: f.include.has('ephemeral') ? typesOnly : NOTHING,
      account_data: f.include.has('account_data') ? typesOnly : NOTHING,
    },
  };
}

/**
 * The filter for a position-only sync (`--from now`): no events at all, just next_batch.
 * Synapse answers an initial sync it has answered recently from a cache, with the old
 * next_batch; a room nobody has (`not_rooms`, harmless) makes each of these requests new.
 */
export function positionOnlyFilter(): SyncFilter {
  return {
    presence: NOTHING,
    account_data: NOTHING,
    room: {
      not_rooms: [`!mx-now-${nodeCrypto().randomBytes(6).toString('hex')}:mx.invalid`],
      timeline: { limit: 0 },
      state: NOTHING,
      ephemeral: NOTHING,
      account_data: NOTHING,
    },
  };
}

/** The same selection for /rooms/{id}/messages, as its `filter` parameter (JSON). */
export function roomEventFilter(f: TailFilter): string | undefined {
  const filter: RoomEventFilter = { ...(f.types ? { types: serverTypes(f.types) } : {}), ...(f.senders ? { senders: f.senders } : {}) };
  return Object.keys(filter).length ? JSON.stringify(filter) : undefined;
}

/**
 * The client-side check of one item. Room rules apply only to items that belong to a room. An
 * event that stayed encrypted passes any type rule: its clear type is unknown, and an event
 * mx could not decrypt is shown, never dropped.
 */
export function matchesFilter(f: TailFilter, item: { type: string; sender?: unknown; room_id?: unknown; encryption?: unknown }): boolean {
  if (f.rooms && typeof item.room_id === 'string' && !f.rooms.includes(item.room_id)) return false;
  if (f.types && !matchesTypes(f.types, item)) return false;
  if (f.senders && (typeof item.sender !== 'string' || !f.senders.includes(item.sender))) return false;
  return true;
}
