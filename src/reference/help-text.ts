/** `mx help COMMAND`: the full reference of one command as text for a terminal or a pager. */
import { flagNames, optionFacts, positionalWord, relationNotes, valueName } from './format.js';
import { globalOptions, type CommandReference, type OptionReference } from './reference.js';

const WIDTH = 80;
const INDENT = '      ';

export function commandHelp(ref: CommandReference): string {
  const blocks = [ref.usage, wrap(ref.describe, '').join('\n')];
  if (ref.aliases.length) blocks.push(`Also: ${ref.aliases.map((a) => ['mx', ...ref.path.slice(0, -1), a].join(' ')).join(', ')}`);
  if (ref.subcommands.length) {
    blocks.push(section('Commands', ref.subcommands.map((s) => entry(s.usage, s.describe))));
    blocks.push(`mx help ${ref.path.join(' ')} COMMAND shows the full reference of one; man mx shows them all.`);
    return blocks.join('\n\n') + '\n';
  }
  if (ref.positionals.length) blocks.push(section('Arguments', ref.positionals.map((p) => optionEntry(p, positionalWord(p), true))));
  if (ref.options.length) blocks.push(section('Options', ref.options.map((o) => optionEntry(o, flagUsage(o), false))));
  const globals = globalOptions().map((o) => flagNames(o).join('/'));
  blocks.push(wrap(`Global options: ${globals.join(', ')} (see mx --help).`, '').join('\n'));
  if (ref.examples.length) blocks.push(section('Examples', ref.examples.map((e) => entry(e.command, e.describe))));
  return blocks.join('\n\n') + '\n';
}

function section(title: string, entries: string[]): string {
  return `${title}:\n${entries.join('\n')}`;
}

/** `  HEAD` and, under it, the text wrapped and indented. */
function entry(head: string, text: string): string {
  return [`  ${head}`, ...wrap(text, INDENT)].join('\n');
}

/** `-o, --output json|table|text` */
function flagUsage(option: OptionReference): string {
  const value = valueName(option);
  return flagNames(option).join(', ') + (value ? ` <${value}>` : '');
}

/** An option's head line with its facts in brackets, then its description and relations. */
function optionEntry(option: OptionReference, name: string, positional: boolean): string {
  const facts = optionFacts(option, positional);
  const head = `${name}${facts.length ? `  (${facts.join(', ')})` : ''}`;
  return [`  ${head}`, ...wrap(option.describe, INDENT), ...relationNotes(option).flatMap((note) => wrap(note, INDENT))].join('\n');
}

/** Words into lines of at most WIDTH columns, each starting with `indent` (a long word stays whole). */
function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(indent + line);
  return lines;
}
