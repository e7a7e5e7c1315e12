import { describe, expect, it } from 'vitest';
import { colours } from '../../src/output/colour.js';
import { formatEventLine, summarizeEvent } from '../../src/output/event-summary.js';

const base = { sender: '@a:hs', event_id: '$e', origin_server_ts: Date.UTC(2026, 10, 27, 12, 0, 1) };

describe('event summaries', () => {
  it('shows message bodies on one line, and what other events did', () => {
    expect(summarizeEvent({ ...base, type: 'm.room.message', content: { msgtype: 'm.text', body: 'two\nlines' } })).toBe('two lines');
    expect(summarizeEvent({ ...base, type: 'm.room.message', content: { msgtype: 'm.emote', body: 'waves' } })).toBe('* @a:hs waves');
    expect(summarizeEvent({ ...base, type: 'm.room.message', content: { msgtype: 'm.image', body: 'cat.png' } })).toBe('[image] cat.png');
    expect(summarizeEvent({ ...base, type: 'm.room.message', content: {} })).toBe('(redacted)');
    expect(summarizeEvent({ ...base, type: 'm.room.member', state_key: '@b:hs', content: { membership: 'invite' } })).toBe('invited @b:hs');
    expect(summarizeEvent({ ...base, type: 'm.room.member', state_key: '@a:hs', content: { membership: 'leave' } })).toBe('left');
    expect(summarizeEvent({ ...base, type: 'com.example.x', content: {} })).toBe('[com.example.x]');
  });

  it('formats a line with UTC time, room and sender', () => {
    const event = { ...base, type: 'm.room.message', content: { msgtype: 'm.text', body: 'hi' } };
    expect(formatEventLine(event, colours(false), '#r:hs')).toBe('2026-11-27 12:00:01  #r:hs  @a:hs  hi');
  });
});
