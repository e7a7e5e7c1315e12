/**
 * One readable line per event, shared by every command that prints events as text. Total: an
 * event is whatever a server sent, so any field may be missing or of another type (a time too
 * large for a date, a sender that is an object, content that is an array); each shows as
 * something readable instead of ending the listing or the tail.
 */
import { isRecord } from '../matrix/shape.js';
import type { Colours } from './colour.js';
import { oneLine, shown } from './safe-text.js';

/** What an event line reads of an event; nothing in it is trusted to have its type. */
export interface ShownEvent {
  type?: unknown;
  content?: unknown;
  sender?: unknown;
  state_key?: unknown;
  origin_server_ts?: unknown;
  /** Set by mx's crypto layer on an event it could not decrypt. */
  encryption?: unknown;
}

const MEDIA_LABELS: Record<string, string> = { 'm.image': 'image', 'm.audio': 'audio', 'm.video': 'video', 'm.file': 'file' };

/** The body of a message, or a short description of any other event. */
export function summarizeEvent(event: ShownEvent): string {
  const content = isRecord(event.content) ? event.content : {};
  const text = (key: string) => (typeof content[key] === 'string' ? (content[key] as string) : '');
  switch (event.type) {
    case 'm.room.message': {
      const msgtype = text('msgtype');
      const body = oneLine(text('body'));
      if (msgtype === 'm.emote') return `* ${shown(event.sender)} ${body}`;
      if (msgtype in MEDIA_LABELS) return `[${MEDIA_LABELS[msgtype]}] ${body}`;
      if (msgtype === 'm.location') return `[location] ${body || text('geo_uri')}`;
      const redacted = isRecord(event.content) && Object.keys(content).length === 0;
      return body || (redacted ? '(redacted)' : `[${msgtype || 'message'}]`);
    }
    case 'm.room.member':
      return describeMembership(shown(event.sender), shown(event.state_key ?? ''), text('membership'), text('displayname'));
    case 'm.room.name':
      return `named the room "${oneLine(text('name'))}"`;
    case 'm.room.topic':
      return `set the topic to "${oneLine(text('topic'))}"`;
    case 'm.room.create':
      return 'created the room';
    case 'm.room.canonical_alias':
      return text('alias') ? `set the room's address to ${text('alias')}` : "removed the room's address";
    case 'm.room.encrypted':
      return `[unable to decrypt: ${whyUndecryptable(event.encryption)}]`;
    default:
      return `[${shown(event.type)}]`;
  }
}

/**
 * Why an event is still encrypted (crypto/decrypted.ts says why): its reason, and for a
 * withheld key the sender's code and what it means (mx's words, not the engine's).
 */
function whyUndecryptable(encryption: unknown): string {
  if (!isRecord(encryption) || encryption.reason === undefined) return 'not decrypted';
  if (encryption.reason !== 'withheld') return shown(encryption.reason);
  const code = encryption.withheld_code === undefined ? '' : ` (${shown(encryption.withheld_code)})`;
  const words = typeof encryption.message === 'string' ? `: ${oneLine(encryption.message)}` : '';
  return `withheld${code}${words}`;
}

function describeMembership(sender: string, target: string, membership: string, displayname: string): string {
  const self = sender === target;
  switch (membership) {
    case 'join':
      return displayname ? `joined as "${oneLine(displayname)}"` : 'joined';
    case 'invite':
      return `invited ${target}`;
    case 'leave':
      return self ? 'left' : `removed ${target}`;
    case 'ban':
      return `banned ${target}`;
    case 'knock':
      return 'asked to join';
    default:
      return `membership of ${target}: ${membership}`;
  }
}

/** A server's time (milliseconds since the epoch) as a date; undefined when it is none (a string, NaN, past year 275760). */
export function dateOf(ts: unknown): Date | undefined {
  const date = new Date(typeof ts === 'number' ? ts : NaN);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** `2026-11-27 12:00:01` (UTC), or question marks for a time that is no date. */
function eventTime(ts: unknown): string {
  return dateOf(ts)?.toISOString().replace('T', ' ').slice(0, 19) ?? '????-??-?? ??:??:??';
}

/** `2026-11-27 12:00:01  @alice:example.org  hello`, optionally prefixed by the room. */
export function formatEventLine(event: ShownEvent, c: Colours, room?: string): string {
  return [c.dim(eventTime(event.origin_server_ts)), ...(room ? [c.yellow(room)] : []), c.bold(shown(event.sender)), summarizeEvent(event)].join('  ');
}
