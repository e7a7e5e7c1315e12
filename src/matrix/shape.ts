import { UnexpectedResponseError } from './errors.js';

/** A JSON object (not an array, not null): what a server's answer must be before mx reads a field of it. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The entries of a list (of events, say) that are objects; none when it is no list. */
export function objectsIn<E = Record<string, unknown>>(list: unknown): E[] {
  return Array.isArray(list) ? (list.filter(isRecord) as E[]) : [];
}

/**
 * Checks that a 2xx answer carries the fields mx relies on, so a server or proxy that answers
 * 200 with the wrong shape gives a clear error instead of `undefined` flowing onwards.
 */
export function requireStrings<K extends string>(
  value: Record<string, unknown>,
  keys: readonly K[],
  what: string,
): Record<K, string> {
  for (const key of keys) {
    if (typeof value[key] !== 'string' || value[key] === '') {
      throw new UnexpectedResponseError(`${what}: the homeserver's answer has no "${key}"`, 200);
    }
  }
  return value as Record<K, string>;
}
