import Table from 'cli-table3';
import { describe, expect, it } from 'vitest';
import { chooseFormat, colourEnabled } from '../../src/output/format.js';
import { Output } from '../../src/output/output.js';
import { fakeIo } from './fake-io.js';

const view = {
  text: (r: { user: string }) => `user ${r.user}`,
};
const tableView = {
  table: { head: ['NAME', 'USER'], rows: (all: { name: string; user: string }[]) => all.map((p) => [p.name, p.user]) },
};

describe('output format selection', () => {
  it('is JSON when piped and human on a terminal, unless asked', () => {
    expect(chooseFormat(undefined, false, 'table')).toBe('json');
    expect(chooseFormat(undefined, true, 'table')).toBe('table');
    expect(chooseFormat(undefined, true, 'text')).toBe('text');
    expect(chooseFormat('text', false, 'table')).toBe('text');
    expect(chooseFormat('json', true, 'text')).toBe('json');
  });

  it('turns colour off when not a TTY or NO_COLOR is set; FORCE_COLOR turns it on', () => {
    expect(colourEnabled({}, true)).toBe(true);
    expect(colourEnabled({}, false)).toBe(false);
    expect(colourEnabled({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colourEnabled({ FORCE_COLOR: '1' }, false)).toBe(true);
  });

  it('prints compact JSON when stdout is piped', async () => {
    const io = fakeIo({ stdoutIsTTY: false });
    await new Output(io, undefined).print({ user: '@a:b' }, view);
    expect(io.out()).toBe('{"user":"@a:b"}\n');
  });

  it('prints text on a terminal, without colour codes under NO_COLOR', async () => {
    const io = fakeIo({ stdoutIsTTY: true, env: { NO_COLOR: '1' } });
    await new Output(io, undefined).print({ user: '@a:b' }, view);
    expect(io.out()).toBe('user @a:b\n');
  });

  it('draws a table on a terminal and tab-separated lines when a table is piped', async () => {
    const rows = [{ name: 'work', user: '@a:b' }];
    const tty = fakeIo({ stdoutIsTTY: true, env: { NO_COLOR: '1' } });
    await new Output(tty, undefined).print(rows, tableView);
    expect(tty.out()).toMatch(/│ NAME +│ USER +│/);
    expect(tty.out()).toMatch(/│ work +│ @a:b +│/);
    const piped = fakeIo({ stdoutIsTTY: false });
    await new Output(piped, 'table').print(rows, tableView);
    expect(piped.out()).toBe('NAME\tUSER\nwork\t@a:b\n');
  });

  it('draws a long table in slices that join into the one table cli-table3 would draw whole', async () => {
    const rows = Array.from({ length: 450 }, (_, i) => ({ name: `room ${i}${i === 333 ? ' 世界🙂, the widest' : ''}`, user: `@u${i}:hs` }));
    const io = fakeIo({ stdoutIsTTY: true, env: { FORCE_COLOR: '1' } });
    await new Output(io, undefined).print(rows, tableView);
    const whole = new Table({ head: ['\x1b[1mNAME\x1b[22m', '\x1b[1mUSER\x1b[22m'], style: { head: [], border: [] } });
    whole.push(...rows.map((r) => [r.name, r.user]));
    expect(io.out()).toBe(whole.toString() + '\n');
  });

  it('pretty-prints JSON asked for on a terminal', async () => {
    const io = fakeIo({ stdoutIsTTY: true });
    await new Output(io, 'json').print({ a: 1 }, {});
    expect(io.out()).toBe('{\n  "a": 1\n}\n');
  });
});
