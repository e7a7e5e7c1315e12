/** One readable line per event, shared by every command that prints events as text. */
import type { ClientEvent } from '../matrix/rooms.js';
import type { Colours } from './colour.js';

const MEDIA_LABELS: Record<string, string> = { 'm.image': 'image', 'm.audio': 'audio', 'm.video': 'video', 'm.file': 'file' };

/** The body of a message, or a short description of any other event. */
export function summarizeEvent(event: Pick<ClientEvent, 'type' | 'content' | 'sender' | 'state_key'> & { encryption?: { reason?: string } }): string {
  const content = event.content ?? {};
  const text = (key: string) => (typeof content[key] === 'string' ? (content[key] as string) : '');
  switch (event.type) {
    case 'm.room.message': {
      const msgtype = text('msgtype');
      const body = oneLine(text('body'));
      if (msgtype === 'm.emote') return `* ${event.sender} ${body}`;
      if (msgtype in MEDIA_LABELS) return `[${MEDIA_LABELS[msgtype]}] ${body}`;
      if (msgtype === 'm.location') return `[location] ${body || text('geo_uri')}`;
      return body || (Object.keys(content).length === 0 ? '(redacted)' : `[${msgtype || 'message'}]`);
    }
    case 'm.room.member':
      return describeMembership(event.sender, event.state_key ?? '', text('membership'), text('displayname'));
    case 'm.room.name':
      return `named the room "${oneLine(text('name'))}"`;
    case 'm.room.topic':
      return `set the topic to "${oneLine(text('topic'))}"`;
    case 'm.room.create':
      return 'created the room';
    case 'm.room.canonical_alias':
      return text('alias') ? `set the room's address to ${text('alias')}` : "removed the room's address";
    case 'm.room.encrypted':
      // Still encrypted: mx could not decrypt it (crypto/decrypted.ts says why).
      return `[unable to decrypt: ${event.encryption?.reason ?? 'not decrypted'}]`;
    default:
      return `[${event.type}]`;
  }
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

/** Line breaks and tabs become spaces: one event, one line. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ');
}

/** `2026-11-27 12:00:01  @alice:example.org  hello`, optionally prefixed by the room. */
export function formatEventLine(event: ClientEvent, c: Colours, room?: string): string {
  const time = new Date(event.origin_server_ts).toISOString().replace('T', ' ').slice(0, 19);
  return [c.dim(time), ...(room ? [c.yellow(room)] : []), c.bold(event.sender), summarizeEvent(event)].join('  ');
}
