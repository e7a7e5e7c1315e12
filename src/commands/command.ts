import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { Context, GlobalArgs } from '../context.js';

/**
 * One subcommand: its yargs usage string, description, options, and what it does. `run`
 * returns the exit code (0 when it returns nothing); it prints through ctx.out and throws
 * MxError for anything the user can act on.
 */
export interface CommandDef<A = GlobalArgs> {
  command: string;
  describe: string;
  aliases?: string[];
  builder?: (yargs: Argv<GlobalArgs>) => Argv<A>;
  run?: (ctx: Context, args: ArgumentsCamelCase<A>) => Promise<number | void>;
  /** For a noun with verbs (`profile list`): the verbs. */
  subcommands?: CommandDef<any>[];
}

/** Keeps the option types that `builder` declares flowing into `run`. */
export function defineCommand<A>(def: CommandDef<A>): CommandDef<A> {
  return def;
}
