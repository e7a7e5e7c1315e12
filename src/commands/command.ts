import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { Context, GlobalArgs } from '../context.js';

/**
 * One subcommand: its yargs usage string, description and options (`builder`), an optional
 * `validate` step, and what it does (`run`).
 *
 * `validate` turns the parsed arguments into the command's options: every check that needs
 * neither a file nor the network happens there, before main() reads the config or the profile
 * store, so bad input fails fast and can be tested without HTTP. It throws UsageError.
 * Without it, `run` gets the parsed arguments.
 *
 * `run` does the work with those options: it prints through ctx.out, throws MxError for anything
 * the user can act on, and returns the exit code (0 when it returns nothing).
 */
export interface CommandDef<A = GlobalArgs, O = ArgumentsCamelCase<A>> {
  command: string;
  describe: string;
  aliases?: string[];
  builder?: (yargs: Argv<GlobalArgs>) => Argv<A>;
  validate?: (args: ArgumentsCamelCase<A>) => O;
  run?: (ctx: Context, options: O) => Promise<number | void>;
  /**
   * Instead of `run`, for a command that only prints text made from its options (`help`):
   * main() reads no config or profile store and makes no connection for it.
   */
  print?: (options: O) => Promise<string>;
  /** Runs until stopped (tail): --max-time bounds each long poll's silence, not the whole command. */
  stream?: boolean;
  /** For a noun with verbs (`profile list`): the verbs. */
  subcommands?: CommandDef<any, any>[];
}

/** Keeps the option types that `builder` declares flowing into `validate` and `run`. */
export function defineCommand<A, O = ArgumentsCamelCase<A>>(def: CommandDef<A, O>): CommandDef<A, O> {
  return def;
}
