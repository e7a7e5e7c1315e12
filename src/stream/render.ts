/** How `mx tail` shows an item to people (its JSON line is the event itself: Output.item). */
import type { Colours } from '../output/colour.js';
import { isRecord } from '../matrix/shape.js';
import { formatEventLine, summarizeEvent } from '../output/event-summary.js';
import { shown } from '../output/safe-text.js';
import type { Item } from './batch.js';

/** `2026-11-27 12:00:01  #room:hs  @alice:hs  hello`, or a short line for events without a sender or time. */
export function textLine(item: Item, c: Colours, roomLabel: string | undefined): string {
  const event = item.event;
  if (event.sender !== undefined && event.origin_server_ts !== undefined) return formatEventLine(event, c, roomLabel);
  const who = event.sender === undefined ? undefined : shown(event.sender);
  const parts = [c.dim(item.kind), ...(roomLabel ? [c.yellow(roomLabel)] : []), ...(who ? [c.bold(who)] : []), describeOther(item)];
  return parts.join('  ');
}

function describeOther(item: Item): string {
  const { type, content } = item.event;
  const body = isRecord(content) ? content : {};
  switch (type) {
    case 'm.typing': {
      const users = Array.isArray(body.user_ids) ? body.user_ids.map(shown) : [];
      return users.length ? `typing: ${users.join(', ')}` : 'nobody typing';
    }
    case 'm.receipt':
      return `read receipts for ${Object.keys(body).length} event(s)`;
    case 'm.presence':
      return `presence: ${typeof body.presence === 'string' ? body.presence : '?'}`;
    case 'm.room.member':
      if (item.kind === 'invite') return 'invited you';
      break;
    case 'm.key.verification.request':
      return `asks to verify${typeof body.from_device === 'string' ? ` from device ${shown(body.from_device)}` : ''} (mx verify accept to answer)`;
  }
  if (item.event.sender !== undefined) return summarizeEvent(item.event);
  return `[${shown(type)}]`;
}
