// The full reference (`mx help COMMAND`, the man page) against what yargs itself knows of each
// command: every command, subcommand, argument and flag that `mx ... --help` lists (yargs'
// own rendering of the definitions) must be in both. And the README's tables of exit codes
// and environment variables are the ones the man page is made from.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/commands/index.js';
import { EXIT_CODE_MEANINGS } from '../../src/errors.js';
import { main } from '../../src/main.js';
import { manPage } from '../../src/reference/man.js';
import { ENVIRONMENT } from '../../src/reference/topics.js';
import { fakeIo, tempDirMaker } from './fake-io.js';

const configDir = tempDirMaker('mx-reference-');

async function run(argv: string[], env: Record<string, string> = {}) {
  const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), ...env } });
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err(), requests: io.requests() };
}

/** The lines of one section (`Options:`) of yargs' help text, up to the blank line after it. */
function helpSection(text: string, title: string): string[] {
  const start = text.split('\n').indexOf(`${title}:`);
  if (start < 0) return [];
  const lines = text.split('\n').slice(start + 1);
  return lines.slice(0, lines.findIndex((line) => line === '') === -1 ? undefined : lines.findIndex((line) => line === ''));
}

interface Entry {
  /** A flag as its help line starts (`--notice`, `-o, --output`), or an argument's name. */
  name: string;
  /** The first words of its description, if it has one. */
  describe: string;
}

interface YargsView {
  /** The subcommands' names, for a noun. */
  subcommands: string[];
  positionals: Entry[];
  flags: Entry[];
}

/** What `mx PATH --help` lists: yargs' view of the definitions, read without any of src/reference/. */
async function yargsView(words: string[]): Promise<YargsView> {
  const { code, out } = await run([...words, '--help']);
  expect(code).toBe(0);
  // `  NAME  DESCRIPTION ... [type]`: a description's next lines start further in.
  const entries = (title: string, head: RegExp) =>
    helpSection(out, title).flatMap((line) => {
      const match = head.exec(line);
      if (!match) return [];
      const describe = /^ {2,}(?!\[)(\S+(?: \S+){0,2})/.exec(line.slice(match[0].length))?.[1] ?? '';
      return [{ name: match.slice(1).join('').trim(), describe }];
    });
  return {
    subcommands: helpSection(out, 'Commands').flatMap((line) => {
      const usage = /^ {2}mx ((?:[a-z][\w-]* ?)+)/.exec(line)?.[1]?.trim().split(' ');
      return usage && usage.length === words.length + 1 ? [usage.at(-1)!] : [];
    }),
    positionals: entries('Positionals', /^ {2}([a-z][\w-]*)/),
    flags: entries('Options', /^ {2}(-\w, | {4})(--[\w-]+)/),
  };
}

/** Every command path the definitions hold (src/commands/index.ts), nouns and verbs. */
function definedPaths(defs = commands, parents: string[] = []): string[][] {
  return defs.flatMap((def) => {
    const words = [...parents, def.command.split(' ')[0]!];
    return [words, ...definedPaths(def.subcommands ?? [], words)];
  });
}

/** The man page's source as text: fonts dropped, escapes made characters again. */
function roffPlain(roff: string): string {
  return roff
    .replace(/\\f[BIR]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\(ga/g, '`')
    .replace(/\\\(dq/g, '"')
    .replace(/\\&/g, '')
    .replace(/\\e/g, '\\');
}

/** The man page's part about one command: from its .SS heading to the next. */
function manSection(plain: string, words: string[]): string {
  const parts = plain.split(/^(?=\.SS )/m);
  const part = parts.find((p) => new RegExp(`^\\.SS "mx ${words.join(' ')}(?: |")`).test(p));
  expect(part, `no .SS for mx ${words.join(' ')} in the man page`).toBeDefined();
  return part!;
}

const hasWord = (text: string, word: string) => new RegExp(`(?<![\\w-])${word.replace(/[[\]]/g, '\\$&')}(?![\\w-])`).test(text);

describe('the full reference', async () => {
  const top = await yargsView([]);
  const globalFlags = top.flags.map((flag) => flag.name);
  const page = roffPlain(manPage({ version: '0.0.0-test', date: '2000-01-01' }));
  const manOptions = page.slice(page.indexOf('.SH OPTIONS'), page.indexOf('.SH COMMANDS'));

  it('walks the same commands as yargs: every one mx --help lists, completion and help too', async () => {
    const fromYargs: string[][] = [];
    const walk = async (words: string[]) => {
      for (const sub of (await yargsView(words)).subcommands) {
        fromYargs.push([...words, sub]);
        await walk([...words, sub]);
      }
    };
    await walk([]);
    expect(fromYargs.map((w) => w.join(' ')).sort()).toEqual([...definedPaths(), ['completion']].map((w) => w.join(' ')).sort());
    expect(top.subcommands).toEqual(expect.arrayContaining(['help', 'completion', 'send', 'room']));
  });

  it.each(definedPaths().map((words) => [words.join(' '), words] as const))('mx help %s shows every subcommand, argument and flag yargs knows', async (_name, words) => {
    const view = await yargsView(words);
    const { code, out, err, requests } = await run(['help', ...words]);
    expect({ code, err, requests }).toEqual({ code: 0, err: '', requests: [] });
    expect(out.split('\n')[0]).toMatch(new RegExp(`^mx ${words.join(' ')}\\b`));
    const flat = out.replace(/\s+/g, ' ');
    for (const sub of view.subcommands) expect(out).toMatch(new RegExp(`^ {2}mx ${[...words, sub].join(' ')}\\b`, 'm'));
    // A noun's reference lists its verbs. And yargs reads a last word "help" as --help: `mx help
    // help` is yargs' help of the help command.
    if (view.subcommands.length > 0 || words.at(-1) === 'help') return;
    const globalsLine = (/^Global options:[\s\S]*?\.$/m.exec(out)?.[0] ?? '').replace(/\s+/g, ' ');
    for (const { name, describe } of view.positionals) {
      expect(out).toMatch(new RegExp(`^ {2}[<[]${name}(\\.\\.)?[>\\]] `, 'm'));
      expect(flat).toContain(describe);
    }
    for (const { name, describe } of view.flags) {
      if (globalFlags.includes(name)) {
        expect(globalsLine, `${name} is not under Global options`).toContain(name.split(', ').join('/'));
      } else {
        expect(out, `mx help ${words.join(' ')} lacks ${name}`).toMatch(new RegExp(`^ {2}${name}(?: |$)`, 'm'));
        expect(flat).toContain(describe);
      }
    }
  });

  it.each(definedPaths().map((words) => [words.join(' '), words] as const))('the man page has mx %s with every argument and flag yargs knows', async (_name, words) => {
    const view = await yargsView(words);
    const section = manSection(page, words);
    for (const { name, describe } of view.positionals) {
      expect(hasWord(section.split('\n')[0]!, name), `${name} not in the heading`).toBe(true);
      expect(section.replace(/\s+/g, ' ')).toContain(describe);
    }
    for (const { name, describe } of view.flags) {
      const where = globalFlags.includes(name) ? manOptions : section;
      expect(where, `the man page lacks ${name} for mx ${words.join(' ')}`).toMatch(new RegExp(`^\\.TP\n${name}(?: |$)`, 'm'));
      expect(where.replace(/\s+/g, ' ')).toContain(describe);
    }
  });

  it('gives each flag its type and default, and a command its examples', async () => {
    const { out } = await run(['help', 'login']);
    expect(out).toMatch(/^ {2}--device-name <string> {2}\(default: "mx"\)\n {6}display name of the new device$/m);
    expect(out).toMatch(/^ {2}--refresh {2}\(boolean, on by default: --no-refresh turns it off\)$/m);
    expect(out).toMatch(/^ {2}--sso-timeout <number> {2}\(default: 300\)$/m);
    expect(out).toMatch(/^ {2}--token {2}\(boolean\)\n.*\n {6}Not with --with-token, --password-stdin, --sso\.$/m);
    const send = await run(['help', 'send']);
    expect(send.out).toMatch(/^Examples:\n {2}mx send /m);
    expect(send.out).toMatch(/^ {2}--state-key <string>\n[\s\S]*?Needs --type, --json\.$/m);
    const room = await run(['help', 'room', 'list']);
    expect(room.out).toMatch(/^Also: mx room ls$/m);
    expect((await run(['help', 'room', 'ls'])).out).toBe(room.out);
  });

  it('needs no config, profile or network: a damaged config file does not stop it', async () => {
    const dir = configDir();
    writeFileSync(path.join(dir, 'config.json'), '{ not json');
    writeFileSync(path.join(dir, 'profiles.json'), '[[[');
    const { code, out, err, requests } = await run(['help', 'tail'], { MX_CONFIG_DIR: dir, MX_OUTPUT: 'bogus' });
    expect({ code, err, requests }).toEqual({ code: 0, err: '', requests: [] });
    expect(out).toMatch(/^mx tail\n/);
    // The same config breaks a command that reads it.
    expect((await run(['profile', 'list'], { MX_CONFIG_DIR: dir })).code).toBe(8);
  });

  it('refuses an unknown command with one line and exit code 2', async () => {
    for (const [argv, message] of [
      [['help', 'nope'], 'no command "mx nope" (mx --help lists them)'],
      [['help', 'room', 'nope'], 'no command "mx room nope" (mx --help lists them)'],
      [['help', 'send', 'extra'], 'no command "mx send extra" (mx --help lists them)'],
    ] as const) {
      const { code, out, err } = await run([...argv, '-o', 'text']);
      expect({ code, out, err }).toEqual({ code: 2, out: '', err: `mx: ${message}\n` });
    }
  });

  it('leaves --help as it was, and mx --help points at mx help and man mx', async () => {
    const { code, out } = await run(['send', '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^mx send <room> \[text\]\n/);
    expect(out).toMatch(/--txn-id +transaction ID/);
    expect((await run(['--help'])).out).toMatch(/mx help COMMAND \[SUBCOMMAND\] shows the full reference of a command; man mx shows them all\.\n$/);
    // yargs reads a last word "help" as --help: `mx help` is the list of commands.
    expect((await run(['help'])).out).toBe((await run(['--help'])).out);
  });
});

describe('the sources of the man page and the README agree', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  /** The rows of the first table under a README heading, as [first cell, second cell]. */
  const tableRows = (heading: string) => {
    const start = readme.indexOf(`\n## ${heading}\n`);
    expect(start, `README has no "## ${heading}"`).toBeGreaterThan(-1);
    const rows = readme.slice(start + 1).split('\n## ')[0]!.split('\n').filter((line) => /^\| (?!-|code |variable )/.test(line));
    return rows.map((row) => row.slice(2, -2).split(' | ') as [string, string]);
  };

  it('the exit codes are those of src/errors.ts, with the same words', () => {
    expect(tableRows('Exit codes')).toEqual(Object.entries(EXIT_CODE_MEANINGS));
  });

  it('the environment variables are those of src/reference/topics.ts', () => {
    expect(tableRows('Environment')).toEqual(ENVIRONMENT.map((e) => [e.name, e.meaning]));
  });
});
