/**
 * Stream positions saved in a profile (`profile.positions`), one key per consumer:
 * `sync` for `mx sync`, `tail:<cursor>` for `mx tail --cursor <cursor>`. `mx send` never
 * touches them. Each writer re-reads the store under its lock and changes only its own key,
 * so parallel mx processes never clobber each other's positions.
 */
import { UsageError } from '../errors.js';
import { printable } from '../matrix/identifiers.js';
import type { ProfileStore, StoreData } from '../profiles/store.js';

export const SYNC_POSITION_KEY = 'sync';
export const DEFAULT_CURSOR = 'default';
const CURSOR = /^[A-Za-z0-9._-]{1,64}$/;

export function tailPositionKey(cursor: string): string {
  if (!CURSOR.test(cursor)) {
    throw new UsageError(`invalid cursor name "${printable(cursor)}": use 1 to 64 letters, digits, ".", "_" or "-"`);
  }
  return `tail:${cursor}`;
}

/**
 * Where a stream stands: everything up to the sync token `since` was written, and so were the
 * items listed in `skip` out of the batch that follows `since`. A since-token alone cannot say
 * "half of this batch" (a stop after --count, a signal, a closed pipe); the skip list can, and
 * it only ever holds one batch, because after a whole batch the position moves to its
 * next_batch with an empty list.
 *
 * Stored as a string, so the store's format does not change: a bare token when `skip` is
 * empty, else `{"since":...,"skip":[...]}` (sync tokens never start with "{").
 */
export interface Position {
  since: string;
  skip: string[];
}

export function encodePosition(position: Position): string {
  return position.skip.length === 0 ? position.since : JSON.stringify({ since: position.since, skip: position.skip });
}

/** Reads a stored (or `--from`) position; a bare token is a position with nothing to skip. */
export function decodePosition(text: string, source: string): Position {
  if (!text.startsWith('{')) {
    if (!text.trim()) throw new UsageError(`${source} is empty`);
    return { since: text, skip: [] };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${source} is not a sync token nor a position written by mx`);
  }
  const v = value as { since?: unknown; skip?: unknown };
  if (typeof v.since !== 'string' || !v.since || !Array.isArray(v.skip) || v.skip.some((s) => typeof s !== 'string')) {
    throw new UsageError(`${source} is not a sync token nor a position written by mx`);
  }
  return { since: v.since, skip: v.skip as string[] };
}

/** One saved position of a profile in a store snapshot (undefined when none is saved). */
export function readPosition(data: StoreData, profileName: string, key: string): string | undefined {
  return data.profiles[profileName]?.positions?.[key];
}

/**
 * Saves one position of a profile: a locked read-modify-write of that key only. A profile
 * removed meanwhile (mx profile rm) is not re-created.
 */
export async function savePosition(store: ProfileStore, profileName: string, key: string, value: string): Promise<void> {
  await store.update((data) => {
    const profile = data.profiles[profileName];
    if (!profile) return;
    profile.positions = { ...profile.positions, [key]: value };
  });
}
