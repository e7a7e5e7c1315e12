/**
 * `mx help COMMAND [SUBCOMMAND]`: the full reference of a command, made from its definition
 * (src/reference/). `mx help` alone is `mx --help`, the list of the commands: yargs reads a
 * last word `help` as --help.
 */
import { UsageError } from '../errors.js';
import { printable } from '../matrix/identifiers.js';
import type { CommandDef } from './command.js';
import { COMPLETION_COMMAND } from './global-options.js';

interface HelpOptions {
  def: CommandDef<any, any>;
  /** The names of the commands above it: ['room'] for `room create`. */
  parents: string[];
}

/** The help command for these commands (a function, since the list holds this command too). */
export function helpCommand(commands: () => CommandDef<any, any>[]): CommandDef<{ command: string[] }, HelpOptions> {
  return {
    command: 'help <command..>',
    describe: 'Show the full reference of a command: arguments, every flag with its type and default, examples',
    builder: (y) =>
      y
        .positional('command', { type: 'string', array: true, demandOption: true, describe: 'a command, and a subcommand of it' })
        .example('mx help send', '')
        .example('mx help room messages', ''),
    validate: ({ command: words }) => {
      let list: CommandDef<any, any>[] = [...commands(), COMPLETION_COMMAND];
      const parents: string[] = [];
      let def: CommandDef<any, any> | undefined;
      for (const word of words) {
        if (def) parents.push(commandName(def));
        def = list.find((d) => commandName(d) === word || d.aliases?.includes(word));
        if (!def) throw new UsageError(`no command "mx ${[...parents, word].map(printable).join(' ')}" (mx --help lists them)`);
        list = def.subcommands ?? [];
      }
      return { def: def!, parents };
    },
    print: async ({ def, parents }) => {
      const [{ commandHelp }, { commandReference }] = await Promise.all([import('../reference/help-text.js'), import('../reference/reference.js')]);
      return commandHelp(commandReference(def, parents));
    },
  };
}

function commandName(def: CommandDef<any, any>): string {
  return def.command.split(' ')[0]!;
}
