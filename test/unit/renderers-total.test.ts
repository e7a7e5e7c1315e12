// Every text and table renderer of events is total: whatever an event a server sends holds (a
// time too large for a date, a sender that is an object, content that is an array or null, a
// body that is a number, a state key that is an object...), it renders a line, never throws.
import { describe, expect, it } from 'vitest';
import { colours } from '../../src/output/colour.js';
import { formatEventLine, summarizeEvent } from '../../src/output/event-summary.js';
import { safeValue } from '../../src/output/safe-text.js';
import type { MatrixClient } from '../../src/matrix/http.js';
import type { SyncResponse } from '../../src/matrix/sync.js';
import type { Item } from '../../src/stream/batch.js';
import { textLine } from '../../src/stream/render.js';
import { RoomLabels } from '../../src/stream/room-labels.js';
import { roomRows } from '../../src/stream/sync-rows.js';
import { mockAgent } from './fake-io.js';

/** Values of every JSON type, and the ones a template string or a Date cannot take. */
const WRONG: unknown[] = [
  undefined, null, '', 'text', '\x1b]0;T\x07', 0, -1, -8.64e15 - 1, 9007199254740991, 1e308, Number.NaN, true, [], [1, [2]], ['a', { b: 1 }], {},
  { toString: 1, valueOf: 1 }, { toJSON: 1 }, { nested: { deeper: [null] } },
];
const TYPES = ['m.room.message', 'm.room.member', 'm.room.name', 'm.room.topic', 'm.room.create', 'm.room.canonical_alias', 'm.room.encrypted', 'm.typing', 'm.receipt', 'm.presence', 'm.sticker', 'x.custom'];
const CONTENT_KEYS = ['msgtype', 'body', 'geo_uri', 'membership', 'displayname', 'name', 'topic', 'alias', 'user_ids', 'presence'];
const MSGTYPES = ['m.text', 'm.emote', 'm.image', 'm.file', 'm.location', 'm.notice'];

/** A good event, then that event with each field, and each content field, given each wrong value. */
function* hostileEvents(): Generator<Record<string, unknown>> {
  for (const type of [...TYPES, ...WRONG]) {
    for (const msgtype of type === 'm.room.message' ? MSGTYPES : ['m.text']) {
      const good = { event_id: '$e', type, sender: '@a:hs', origin_server_ts: 1, state_key: '', room_id: '!r:hs', content: { msgtype, body: 'hi', membership: 'join' } };
      yield good;
      for (const field of ['event_id', 'type', 'sender', 'origin_server_ts', 'state_key', 'room_id', 'content', 'encryption']) {
        for (const value of WRONG) yield { ...good, [field]: value };
      }
      for (const key of CONTENT_KEYS) {
        for (const value of WRONG) yield { ...good, content: { ...good.content, [key]: value } };
      }
    }
  }
}

const c = colours(true);

describe('renderers of events are total', () => {
  it('event lines, summaries and tail lines of every kind render every hostile event', () => {
    const lines: string[] = [];
    for (const event of hostileEvents()) {
      for (const shown of [event, safeValue(event)]) {
        lines.push(formatEventLine(shown, c, '#r:hs'), summarizeEvent(shown));
        for (const kind of ['timeline', 'invite', 'state', 'ephemeral', 'presence', 'account_data', 'to_device'] as const) {
          lines.push(textLine({ id: '$e', kind, event: shown as Item['event'] }, c, undefined));
        }
      }
    }
    expect(lines.length).toBeGreaterThan(100_000);
    expect(lines.filter((line) => typeof line !== 'string' || line.includes('\n'))).toEqual([]);
  });

  it('the sync table renders every hostile event, and a sync answer of any shape', async () => {
    const agent = mockAgent();
    const client: MatrixClient = { baseUrl: 'https://hs.test', accessToken: 't', dispatcher: agent, sleep: async () => {}, retry: { rateLimitRetries: 0, maxRateLimitWaitMs: 0, transientRetries: 0, backoffMs: 1 } };
    // No room needs a lookup: each is named by its events or its heroes.
    const events = [...hostileEvents()];
    const named = { type: 'm.room.name', state_key: '', content: { name: 'N' } };
    const rooms: Record<string, unknown> = {};
    events.forEach((event, i) => (rooms[`!r${i}:hs`] = { timeline: { events: [named, event] }, unread_notifications: { notification_count: WRONG[i % WRONG.length] } }));
    const rows = await roomRows({ next_batch: 's', rooms: { join: rooms } } as SyncResponse, new RoomLabels(client));
    expect(rows).toHaveLength(events.length);

    const shapes: unknown[] = [...WRONG, { join: WRONG }, { invite: WRONG, leave: WRONG }];
    const parts = [...WRONG, { events: WRONG }, { events: [null, 5, 'x', []] }];
    for (const part of parts) {
      shapes.push({ join: { '!a:hs': { timeline: part, state: part, summary: part, unread_notifications: part } }, invite: { '!b:hs': { invite_state: part } }, leave: { '!c:hs': part } });
      shapes.push({ join: { '!a:hs': { summary: { 'm.heroes': part } } } });
    }
    let withRooms = 0;
    for (const shape of shapes) {
      const answer = { next_batch: 's', rooms: shape } as SyncResponse;
      const got = await roomRows(answer, new RoomLabels(client, [['!a:hs', 'A'], ['!b:hs', 'B'], ['!c:hs', 'C']]));
      expect(Array.isArray(got)).toBe(true);
      if (got.length > 0) withRooms++;
    }
    expect(withRooms).toBeGreaterThan(parts.length);
    expect(agent.requests).toEqual([]);
  });
});
