// The neutraliser of text for people (src/output/safe-text.ts): every control and bidi character
// is shown instead of acting on the terminal; mx's own colours pass; JSON keeps its value.
import { describe, expect, it } from 'vitest';
import { colours } from '../../src/output/colour.js';
import { jsonText, safeText, safeValue, showControls, terminalText } from '../../src/output/safe-text.js';

/** Every character a terminal may act on or that reorders text. */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i));
const C0 = range(0x00, 0x1f);
const C1 = range(0x80, 0x9f);
const BIDI = [...range(0x202a, 0x202e), ...range(0x2066, 0x2069), '\u200e', '\u200f', '\u061c'];
const ALL = [...C0, '\x7f', ...C1, ...BIDI];
const HOSTILE = 'x\x1b]0;T\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\\x9b31m\u202eexe.txt';

describe('safe text', () => {
  it('shows every C0, DEL, C1 and bidi character in a visible form, one line, nothing unsafe left', () => {
    for (const char of ALL) {
      const shown = showControls(`a${char}b`);
      expect(shown, `U+${char.charCodeAt(0).toString(16)}`).not.toMatch(UNSAFE);
      expect(shown.length).toBeGreaterThan(3);
      expect(shown.startsWith('a') && shown.endsWith('b')).toBe(true);
      expect(safeText(`a${char}b`)).not.toMatch(UNSAFE);
    }
    expect(showControls('\x1b[2J\x00\x7f')).toBe('^[[2J^@^?');
    expect(showControls('\x9b\u202e\u2066\u200f\u061c')).toBe('<U+009B><U+202E><U+2066><U+200F><U+061C>');
    expect(showControls('a\nb\tc')).toBe('a^Jb^Ic');
    // Other text passes as it is, non-Latin scripts and emoji included.
    expect(showControls('héllo 世界 🙂 \u00a0 ^[')).toBe('héllo 世界 🙂 \u00a0 ^[');
  });

  it('keeps a value on one line: line breaks and tabs become one space', () => {
    expect(safeText('two\r\nlines\tand\n\ttabs')).toBe('two lines and tabs');
    expect(safeText(HOSTILE)).not.toMatch(UNSAFE);
  });

  it('copies values with every string and key made safe, leaving other values alone', () => {
    const date = new Date(0);
    const copy = safeValue({ 'k\x1b': ['a\x1b[1m', 1, null, true, { deep: '\u202e' }], date });
    expect(copy).toEqual({ 'k^[': ['a^[[1m', 1, null, true, { deep: '<U+202E>' }], date });
    expect(copy.date).toBe(date);
  });

  it("lets mx's own colour sequences through to the terminal, and nothing else", () => {
    const c = colours(true);
    const own = [c.bold('b'), c.dim('d'), c.red('r'), c.green('g'), c.yellow('y')].join('\n') + '\t';
    expect(terminalText(own)).toBe(own);
    // SGR, CSI and OSC from input are shown, even ones that look like mx's.
    for (const sequence of ['\x1b[0m', '\x1b[1;31m', '\x1b[2J', '\x1b]0;title\x07', '\x1b]52;c;eA==\x07', '\x9b2J', '\x1b[5m', '\r', '\x1b[38;5;1m']) {
      const text = terminalText(`a${sequence}b`);
      expect(text, JSON.stringify(sequence)).not.toMatch(UNSAFE);
    }
    expect(terminalText(`${c.bold('ok')}\x1b[31;1mx\x1b[22`)).toBe(`${c.bold('ok')}^[[31;1mx^[[22`);
  });

  it('writes DEL, C1 and bidi characters of JSON for a terminal as \\u escapes: the same value', () => {
    const value = { body: HOSTILE, all: ALL.join('') };
    const json = JSON.stringify(value, null, 2);
    const forTerminal = jsonText(json, true);
    expect(forTerminal.replace(/\n/g, '')).not.toMatch(UNSAFE);
    expect(JSON.parse(forTerminal)).toEqual(value);
    expect(jsonText(json, false)).toBe(json);
  });
});
