/**
 * mx.1, the man page: every command with its arguments and flags (from the command
 * definitions, as `mx help` shows them), the environment, the files and the exit codes. Made
 * by the build (scripts/man.mjs), never at run time.
 */
import { COMPLETION_COMMAND } from '../commands/global-options.js';
import { commands } from '../commands/index.js';
import { EXIT_CODE_MEANINGS } from '../errors.js';
import { flagNames, optionFacts, relationNotes, valueName } from './format.js';
import { allCommands, commandReference, globalOptions, type CommandReference, type OptionReference } from './reference.js';
import { ENVIRONMENT, FILES, type Entry } from './topics.js';

export interface ManPageOptions {
  version: string;
  /** The page's date, YYYY-MM-DD. */
  date: string;
}

const DESCRIPTION = [
  'mx is a scriptable command-line client for the Matrix client-server API (`/_matrix/client/v3`). It has one command per API action, named profiles that keep access tokens, JSON output for scripts and `jq`, and tables and text for people. It reads and writes encrypted rooms (Megolm) like plain ones.',
  'Output: `-o json` is the API\'s own JSON (compact when piped), `-o table` a table (tab-separated when piped), `-o text` readable lines; streams (`tail`, `room messages`) write one JSON line per event. The default is a table or text on a terminal and compact JSON when stdout is piped. Data goes to stdout; progress, warnings and errors go to stderr, as one line each (`mx: MESSAGE`, or a JSON line in JSON mode), without a stack trace unless `--debug`.',
  'Secrets never come from the command line: passwords, tokens, recovery keys and passphrases are read from stdin (`--password-stdin` and the like), from the environment or from a hidden prompt. Settings come from flags, then the environment (`MX_*`), then the config file, then the defaults.',
  'Which profile a command uses: `-p NAME`, else `MX_PROFILE`, else the config file\'s `profile`, else the default profile (`mx profile use NAME`), else `default`. `MX_HOMESERVER` with `MX_ACCESS_TOKEN` needs no profile and no file at all.',
];

const SEE_ALSO = 'README.md and docs/ (commands, encryption, profiles, performance), in mx\'s package folder or its source; the Matrix client-server API: https://spec.matrix.org';

export function manPage({ version, date }: ManPageOptions): string {
  const references = [...commands, COMPLETION_COMMAND].map((def) => commandReference(def));
  const lines = [
    `.TH MX 1 ${date} ${quoted(`mx ${version}`)} ${quoted('User Commands')}`,
    // Not justified, nor hyphenated (below): flags and IDs are to be read, and copied, as they are.
    '.ad l',
    '.SH NAME',
    'mx \\- a scriptable command\\-line client for the Matrix client\\-server API',
    '.SH SYNOPSIS',
    '\\fBmx\\fR \\fIcommand\\fR [\\fIsubcommand\\fR] [\\fIarguments\\fR] [\\fIoptions\\fR]',
    '.br',
    '\\fBmx help\\fR \\fIcommand\\fR [\\fIsubcommand\\fR]',
    '.SH DESCRIPTION',
    ...DESCRIPTION.flatMap((paragraph, i) => [...(i ? ['.PP'] : []), inline(paragraph)]),
    '.SH OPTIONS',
    'Every command takes these.',
    ...globalOptions().flatMap((o) => option(o, false)),
    '.SH COMMANDS',
    ...allCommands(references).flatMap(command),
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(entry),
    '.SH FILES',
    ...FILES.flatMap(entry),
    '.SH EXIT STATUS',
    ...Object.entries(EXIT_CODE_MEANINGS).flatMap(([code, meaning]) => entry({ name: code, meaning })),
    '.PP',
    'A closed pipe (\\fBmx tail | head \\-1\\fR) ends mx quietly with status 0.',
    '.SH EXAMPLES',
    ...allCommands(references).flatMap((ref) => ref.examples).flatMap((example, i) => [
      ...(i ? ['.PP'] : []),
      ...(example.describe ? [`${text(example.describe)}:`] : []),
      '.RS 4',
      '.EX',
      text(example.command),
      '.EE',
      '.RE',
    ]),
    '.SH SEE ALSO',
    inline(SEE_ALSO),
  ];
  // groff's .SH turns hyphenation back on.
  return fill(lines.flatMap((line) => (line.startsWith('.SH ') ? [line, '.nh'] : [line]))).join('\n') + '\n';
}

/**
 * Text lines broken at spaces into lines of at most 80 bytes (as man pages' sources are), but
 * in examples (.EX to .EE), which are shown as they are.
 */
function fill(lines: string[]): string[] {
  const filled: string[] = [];
  let example = false;
  for (const line of lines.flatMap((l) => l.split('\n'))) {
    if (line === '.EX' || line === '.EE') example = line === '.EX';
    if (example || line.startsWith('.') || line.length <= 80) {
      filled.push(line);
      continue;
    }
    let current = '';
    for (const word of line.split(' ')) {
      if (current && current.length + 1 + word.length > 80) {
        filled.push(current);
        current = /^[.']/.test(word) ? `\\&${word}` : word;
      } else {
        current = current ? `${current} ${word}` : word;
      }
    }
    filled.push(current);
  }
  return filled;
}

function command(ref: CommandReference): string[] {
  const usage = ['mx', ...ref.path].map(bold).concat(ref.positionals.map(positionalUsage));
  if (ref.subcommands.length) usage.push(italic('command'));
  return [
    `.SS ${quoted(usage.join(' '))}`,
    text(ref.describe.endsWith('.') ? ref.describe : `${ref.describe}.`),
    ...(ref.aliases.length ? ['.PP', `Also: ${ref.aliases.map((a) => bold(['mx', ...ref.path.slice(0, -1), a].join(' '))).join(', ')}.`] : []),
    ...ref.positionals.flatMap((p) => option(p, true)),
    ...ref.options.flatMap((o) => option(o, false)),
  ];
}

/** `\fIroom\fR`, `[\fItext\fR]`, `\fIusers\fR...`: required, optional, several. */
function positionalUsage(p: OptionReference): string {
  const name = italic(p.name) + (p.repeatable ? '...' : '');
  return p.required ? name : `[${name}]`;
}

function option(o: OptionReference, positional: boolean): string[] {
  const value = valueName(o);
  const head = positional ? italic(o.name) : flagNames(o).map(bold).join(', ') + (value ? ` ${italic(value)}` : '');
  const facts = optionFacts(o, positional);
  // Each on a line of its own (.br): the descriptions are phrases, without a full stop.
  const body = [o.describe, ...relationNotes(o)].filter(Boolean).map((s) => text(s));
  return ['.TP', `${head}${facts.length ? ` (${text(facts.join(', '))})` : ''}`, ...body.flatMap((line, i) => (i ? ['.br', line] : [line]))];
}

function entry({ name, meaning }: Entry): string[] {
  return ['.TP', inline(name), inline(meaning)];
}

function bold(s: string): string {
  return `\\fB${text(s)}\\fR`;
}

function italic(s: string): string {
  return `\\fI${text(s)}\\fR`;
}

/** A macro argument in double quotes (a quote inside is \(dq). */
function quoted(s: string): string {
  return `"${s.replace(/"/g, '\\(dq')}"`;
}

/** Markdown inline code (`x`) in bold, the rest as text. */
function inline(markdown: string): string {
  return markdown
    .split(/`([^`]*)`/)
    .map((part, i) => (i % 2 ? bold(part) : text(part)))
    .join('');
}

/**
 * Text for a roff text line: backslashes and the characters groff would print as something
 * else (- as a hyphen, ' and ` as curly quotes, ^ and ~ as accents) are escaped, anything
 * outside ASCII is written as its code point, and a line may not start with a control
 * character (. or ').
 */
export function text(s: string): string {
  const escaped = [...s]
    .map((c) => {
      switch (c) {
        case '\\': return '\\e';
        case '-': return '\\-';
        case "'": return '\\(aq';
        case '`': return '\\(ga';
        case '^': return '\\(ha';
        case '~': return '\\(ti';
        case '\n': return ' ';
        default: {
          const code = c.codePointAt(0)!;
          return code < 0x20 || code > 0x7e ? `\\[u${code.toString(16).toUpperCase().padStart(4, '0')}]` : c;
        }
      }
    })
    .join('');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}
