import { UnexpectedResponseError } from './errors.js';

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
