/** Small helpers shared by the profile store and config loading. */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { errorMessage } from '../fs-util.js';
import { printable } from '../matrix/identifiers.js';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON.parse's message without V8's quote of the input (the store holds tokens, and the
 * message may end up in a CI log), with the position given as line and column.
 */
export function describeJsonError(err: unknown, text: string): string {
  const message = errorMessage(err).replace(/, .* is not valid JSON$/s, '');
  return message.replace(/ at position (\d+)/, (_, pos: string) => {
    const lines = text.slice(0, Number(pos)).split('\n');
    return ` at line ${lines.length}, column ${lines[lines.length - 1]!.length + 1}`;
  });
}

/**
 * A value from a file as an error message may show it: short and on one line, whatever the
 * file holds (a list or a mapping is named, never serialised: it may be huge, deep or
 * cyclic). Not for values that may be secrets: those are never shown at all.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `"${printable(value)}"`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  return String(value);
}

/**
 * Whether `value` holds more than `max` values in all (itself included), walking into lists
 * and mappings without recursion. A value used twice counts twice: a YAML alias is the same
 * object again, so aliases that expand exponentially ("billion laughs"), or that refer to
 * themselves, are caught after `max` steps instead of being expanded.
 */
export function holdsMoreValuesThan(value: unknown, max: number): boolean {
  const pending: unknown[] = [value];
  let seen = 0;
  while (pending.length > 0) {
    const next = pending.pop();
    seen++;
    if (typeof next === 'object' && next !== null) {
      const inner = Object.values(next);
      if (seen + pending.length + inner.length > max) return true;
      for (const item of inner) pending.push(item);
    }
  }
  return seen > max;
}

/**
 * Whether JSON text nests lists and objects deeper than `max`, by counting brackets outside
 * strings. Checked before JSON.parse: parsing is iterative, but deep nesting costs memory
 * (100 bytes a level), and what mx does with a parsed store (writing it back) recurses.
 */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * Reads a file that mx expects to be small (a config, the profile store); one larger than
 * `maxBytes` is not read at all (its size comes back instead): it would take its size in
 * memory several times over. File system errors are thrown as they come.
 */
export function readSmallFile(file: string, maxBytes: number): { text: string } | { tooLarge: number } {
  const fd = openSync(file, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size > maxBytes) return { tooLarge: size };
    return { text: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** A size in MiB, for messages. */
export function mebibytes(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}
