/**
 * Text for people is safe: a string that came from a server or a peer (a message body, a room
 * or display name, an ID, an error text) must not act on the reader's terminal. Control
 * characters would: ESC starts sequences that clear the screen, set the window title, write the
 * clipboard (OSC 52) or plant links (OSC 8); C1 characters are the same in 8 bits; bidi controls
 * reorder what is shown, so that a line reads otherwise than it is. Each becomes a visible form
 * instead: caret notation for C0 and DEL (`^[` for ESC, as `cat -v` and `less` show them) and
 * the code point for C1 and bidi controls (`<U+202E>`). JSON output stays exact (see
 * jsonText for what a terminal gets of it).
 */
import { SGR_CODES } from './colour.js';

/** DEL, C1, and the bidi controls: embeddings and overrides, isolates, and the marks. */
const UNSAFE_ABOVE_C0 = '\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
const UNSAFE = `\\x00-\\x1f${UNSAFE_ABOVE_C0}`;
const UNSAFE_CHAR = new RegExp(`[${UNSAFE}]`, 'g');
/** mx's own colour sequences (colour.ts), the only escape sequences that reach a terminal; or an unsafe character. */
const OWN_SGR_OR_UNSAFE = new RegExp(`\\x1b\\[(?:${SGR_CODES.join('|')})m|[${UNSAFE}]`, 'g');
const UNSAFE_IN_JSON = new RegExp(`[${UNSAFE_ABOVE_C0}]`, 'g');

/** The visible form of one unsafe character. */
function visible(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/**
 * Every unsafe character of `text` in its visible form, line breaks and tabs too: for a line
 * on stderr (a warning, a notice, an error, a debug line), whose parts may come from a server
 * (an error text, an ID) while mx's own words hold no control characters.
 */
export function showControls(text: string): string {
  return text.replace(UNSAFE_CHAR, visible);
}

/** The longest a value that is not a string (an object, say) is shown. */
const MAX_SHOWN_LENGTH = 80;

/**
 * Any JSON value as text, for a field that should be a string and may not be (a server sent
 * it): a string as it is, anything else as short JSON, `?` when missing. Never throws, unlike
 * a template string (`${{ toString: 1 }}` does).
 */
export function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '?';
  const json = JSON.stringify(value) ?? String(value);
  return json.length > MAX_SHOWN_LENGTH ? `${json.slice(0, MAX_SHOWN_LENGTH - 1)}…` : json;
}

/** `text` without its unsafe characters at all (for a file name, where no visible form fits). */
export function withoutControls(text: string): string {
  return text.replace(UNSAFE_CHAR, '');
}

/** Each run of line breaks and tabs as one space: a multi-line body reads as one line, a table cell stays in its column. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ');
}

/** A string from outside, made safe to show on one line: oneLine, then every other unsafe character in its visible form. */
export function safeText(text: string): string {
  return showControls(oneLine(text));
}

/**
 * A copy of a value for a text or table view: every string in it, object keys too, made safe
 * (safeText). Only plain objects and arrays are copied; anything else is kept as it is. Values
 * from a server are only so deep (http.ts bounds the nesting of every answer).
 */
export function safeValue<T>(value: T): T {
  if (typeof value === 'string') return safeText(value) as T;
  if (Array.isArray(value)) return value.map(safeValue) as T;
  if (value === null || typeof value !== 'object') return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[safeText(key)] = safeValue(item);
  return copy as T;
}

/**
 * The last line of defence for a terminal, over the whole text mx is about to write for a
 * person: mx's own colour sequences pass, and so do the line breaks and tabs of its layout;
 * every other unsafe character is shown instead (from a string a view took from outside the
 * neutralised copy, say).
 */
export function terminalText(text: string): string {
  return text.replace(OWN_SGR_OR_UNSAFE, (match) => (match.length > 1 || match === '\n' || match === '\t' ? match : visible(match)));
}

/**
 * JSON as it goes out: as is when piped. JSON.stringify escapes C0 in strings (the line breaks
 * of its layout are its own) but leaves DEL, C1 and the bidi controls as they are; outside
 * strings JSON has no place for those, so for a terminal each is written as a \u escape: the
 * same JSON value (its strings exact) that the terminal cannot act on.
 */
export function jsonText(json: string, forTerminal: boolean): string {
  return forTerminal ? json.replace(UNSAFE_IN_JSON, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
