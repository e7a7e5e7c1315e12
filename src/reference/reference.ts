/**
 * The full reference of mx's commands, read from the command definitions themselves (their
 * yargs builders), so that `mx help COMMAND` and the man page cannot drift from the code.
 *
 * A builder is run against a recorder that takes the calls a builder makes (option, positional,
 * example, conflicts, implies, nargs) and keeps what they declare: this needs nothing of
 * yargs' internals, so a yargs upgrade cannot change what the reference shows. A builder that
 * calls anything else fails here, loudly (at build time: scripts/man.mjs), rather than
 * leaving its declaration out of the reference.
 */
import type { Argv, Options, PositionalOptions } from 'yargs';
import type { CommandDef } from '../commands/command.js';
import { GLOBAL_OPTIONS, HELP_OPTION, VERSION_OPTION } from '../commands/global-options.js';
import { positionalWord } from './format.js';

export interface OptionReference {
  /** The long name, without dashes (`txn-id`), or the positional's name. */
  name: string;
  /** Other names: `p` for --profile. */
  aliases: string[];
  type: 'string' | 'boolean' | 'number' | 'count' | undefined;
  /** Takes the flag (or positional) more than once: an array of values. */
  repeatable: boolean;
  required: boolean;
  default?: unknown;
  choices?: readonly unknown[];
  describe: string;
  /** What this option cannot go with, and what it needs, as written on a command line: `--json`, `[user]`. */
  conflicts: string[];
  implies: string[];
}

export interface ExampleReference {
  command: string;
  describe: string;
}

export interface CommandReference {
  /** The words that name it: ['room', 'create']. */
  path: string[];
  /** `mx room create` with its positionals as yargs writes them: `mx send <room> [text]`. */
  usage: string;
  describe: string;
  aliases: string[];
  positionals: OptionReference[];
  options: OptionReference[];
  examples: ExampleReference[];
  /** For a noun with verbs (`room`): the verbs. */
  subcommands: CommandReference[];
}

/** The reference of one command and of its subcommands. */
export function commandReference(def: CommandDef<any, any>, parents: string[] = []): CommandReference {
  const [name, ...positionalWords] = def.command.split(/\s+/);
  const path = [...parents, name!];
  const recorded = record(def, path);
  const positionals = positionalWords.map((word) => positionalReference(word, recorded.positionals.get(positionalName(word))));
  return {
    path,
    usage: ['mx', ...path, ...positionalWords].join(' ') + (def.subcommands && !def.run ? ' <command>' : ''),
    describe: def.describe,
    aliases: def.aliases ?? [],
    positionals,
    options: [...recorded.options.values()].map((o) => withRelations(o, recorded, positionals)),
    examples: recorded.examples,
    subcommands: (def.subcommands ?? []).map((sub) => commandReference(sub, path)),
  };
}

/** Every command, its subcommands after it (depth first): what a walk over the reference sees. */
export function allCommands(references: CommandReference[]): CommandReference[] {
  return references.flatMap((ref) => [ref, ...allCommands(ref.subcommands)]);
}

/** The options every command takes: the global flags, then --help and --version. */
export function globalOptions(): OptionReference[] {
  const builtIn = (o: { name: string; alias: string; describe: string }): OptionReference => optionReference(o.name, { alias: o.alias, type: 'boolean', describe: o.describe });
  return [...Object.entries(GLOBAL_OPTIONS).map(([name, o]) => optionReference(name, o)), builtIn(HELP_OPTION), builtIn(VERSION_OPTION)];
}

/** What a builder declared, by name, in the order it declared it. */
interface Recorded {
  options: Map<string, OptionReference>;
  positionals: Map<string, OptionReference>;
  examples: ExampleReference[];
  conflicts: Map<string, Set<string>>;
  implies: Map<string, Set<string>>;
}

function record(def: CommandDef<any, any>, path: string[]): Recorded {
  const recorded: Recorded = { options: new Map(), positionals: new Map(), examples: [], conflicts: new Map(), implies: new Map() };
  if (!def.builder || (def.subcommands && !def.run)) return recorded;
  const relate = (map: Map<string, Set<string>>, key: string, value: string | readonly string[]) => {
    const set = map.get(key) ?? new Set<string>();
    for (const v of typeof value === 'string' ? [value] : value) set.add(v);
    map.set(key, set);
  };
  const methods: Record<string, (...args: any[]) => void> = {
    option: (name: string, options: Options) => recorded.options.set(name, optionReference(name, options)),
    positional: (name: string, options: PositionalOptions) => recorded.positionals.set(name, optionReference(name, options)),
    example: (command: string, describe: string) => recorded.examples.push({ command, describe }),
    // Relations are kept both ways: --a conflicts with --b, and so --b with --a.
    conflicts: (name: string, others: string | readonly string[]) => {
      relate(recorded.conflicts, name, others);
      for (const other of typeof others === 'string' ? [others] : others) relate(recorded.conflicts, other, name);
    },
    implies: (name: string, others: string | readonly string[]) => relate(recorded.implies, name, others),
    // How many words a flag takes: the parser's business, not the reader's.
    nargs: () => {},
  };
  const recorder: unknown = new Proxy(
    {},
    {
      get(_target, method) {
        const take = methods[String(method)];
        if (!take) throw new Error(`the command reference (src/reference/reference.ts) does not know yargs' .${String(method)}(), which mx ${path.join(' ')} calls: teach it`);
        return (...args: unknown[]) => {
          take(...args);
          return recorder;
        };
      },
    },
  );
  def.builder(recorder as Argv<any>);
  return recorded;
}

function optionReference(name: string, options: Options | PositionalOptions): OptionReference {
  const alias = options.alias;
  return {
    name,
    aliases: alias === undefined ? [] : typeof alias === 'string' ? [alias] : [...alias],
    type: options.type as OptionReference['type'],
    repeatable: Boolean(options.array),
    required: Boolean(options.demandOption),
    ...(options.default === undefined ? {} : { default: options.default }),
    ...(options.choices === undefined ? {} : { choices: typeof options.choices === 'string' ? [options.choices] : options.choices }),
    describe: options.describe ?? '',
    conflicts: [],
    implies: [],
  };
}

/** The options an option conflicts with and needs, as written on a command line: `--json`, `[user]`. */
function withRelations(option: OptionReference, recorded: Recorded, positionals: OptionReference[]): OptionReference {
  const written = (name: string) => {
    const positional = positionals.find((p) => p.name === name);
    return positional ? positionalWord(positional) : `--${name}`;
  };
  const names = (map: Map<string, Set<string>>) => [...(map.get(option.name) ?? [])].map(written);
  return { ...option, conflicts: names(recorded.conflicts), implies: names(recorded.implies) };
}

/** `<users..>` is the positional `users`. */
function positionalName(word: string): string {
  return word.replace(/^[<[]|[>\]]$/g, '').replace(/\.\.$/, '');
}

/** A positional of the command string, with what its .positional() said about it, if anything. */
function positionalReference(word: string, declared: OptionReference | undefined): OptionReference {
  const name = positionalName(word);
  return {
    ...(declared ?? optionReference(name, {})),
    name,
    required: word.startsWith('<'),
    repeatable: word.includes('..') || Boolean(declared?.repeatable),
  };
}
