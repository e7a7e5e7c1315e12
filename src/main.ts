/**
 * main(argv, io): parse, run one command, return its exit code. It never exits the process
 * and never touches process globals (cli.ts does), so tests run it in-process.
 */
import yargs, { type ArgumentsCamelCase, type Argv } from 'yargs';
import type { CommandDef } from './commands/command.js';
import { COMPLETION_COMMAND, GLOBAL_OPTIONS, HELP_OPTION, VERSION_OPTION } from './commands/global-options.js';
import { commands } from './commands/index.js';
import { Context, type GlobalArgs } from './context.js';
import { Deadline } from './deadline.js';
import { ExitCode, exitCodeForAbort, fileSystemFailure, MxError, UsageError } from './errors.js';
import { printable } from './matrix/identifiers.js';
import type { Io } from './io.js';
import { chooseFormat, OUTPUT_FORMATS, type OutputFormat } from './output/format.js';
import { reportError } from './output/errors.js';
import { Output } from './output/output.js';
import { networkSettings } from './network-settings.js';
import { skipHelpCache } from './patches/yargs.js';
import { loadConfig } from './profiles/config.js';
import { resolvePaths } from './profiles/paths.js';
import { needsNoFiles } from './session.js';
import { VERSION } from './version.js';
import { wholeNumber } from './flag-numbers.js';

interface Selected {
  def: CommandDef<any, any>;
  args: ArgumentsCamelCase<GlobalArgs & Record<string, unknown>>;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let selected: Selected | undefined;
  const parser = buildParser(argv, (def, args) => {
    selected = { def, args };
  });

  let parsed: GlobalArgs & Record<string, unknown>;
  let helpText = '';
  try {
    parsed = (await parser.parseAsync(argv, {}, (_err, _argv, output) => {
      helpText = output;
    })) as GlobalArgs & Record<string, unknown>;
  } catch (error) {
    const format = rawOutputFlag(argv) ?? (io.stdoutIsTTY ? 'text' : 'json');
    return reportError(io, format, error instanceof MxError ? error : new UsageError(String((error as Error).message)), argvDebug(argv, io));
  }
  // --help, --version and `completion` print and stop here.
  if (!selected) {
    if (helpText) new Output(io, undefined).help(helpText);
    return ExitCode.ok;
  }

  const debug = parsed.debug || isTruthy(io.env.MX_DEBUG);
  const global: GlobalArgs = { ...pickGlobals(parsed), debug };
  let format: OutputFormat = global.output ?? (io.stdoutIsTTY ? 'text' : 'json');
  let deadline: Deadline | undefined;
  try {
    // Arguments first: bad input fails before any file is read.
    const options = selected.def.validate ? selected.def.validate(selected.args) : selected.args;
    if (selected.def.print) {
      new Output(io, undefined).help(await selected.def.print(options));
      return ExitCode.ok;
    }
    const retries = retriesSetting(global.retries, io);
    const envOutputFormat = envOutput(io);
    const paths = resolvePaths(io.env, io.cwd);
    // MX_ACCESS_TOKEN with a homeserver needs no files, so none is read: no config (unless
    // --config names one) and no profile store (session.ts).
    const { config, filepath, warnings } =
      needsNoFiles(global, io.env) && global.config === undefined
        ? { config: {}, filepath: undefined, warnings: [] }
        : await loadConfig({ explicitPath: global.config, configDir: paths.configDir, cwd: io.cwd });
    const output = global.output ?? envOutputFormat ?? config.output;
    format = chooseFormat(output, io.stdoutIsTTY, 'text');
    const network = await networkSettings(global, io.env, config, { cwd: io.cwd, configFile: filepath });
    // A stream (tail) runs until stopped: --max-time bounds each of its long polls instead.
    deadline = network.maxTime && !selected.def.stream ? new Deadline(io.signal, network.maxTime) : undefined;
    const commandIo = deadline ? { ...io, signal: deadline.signal } : io;
    const run = async () => {
      const dispatcher = await io.transport({ connectTimeoutMs: network.connectTimeoutMs, ca: network.cacert?.pem });
      const ctx = new Context(commandIo, { ...global, output, retries }, config, paths, { dispatcher, network });
      for (const warning of warnings) ctx.out.warn(warning);
      try {
        return (await selected!.def.run!(ctx, options)) ?? ExitCode.ok;
      } finally {
        await ctx.close();
      }
    };
    return await (deadline ? deadline.bound(run()) : run());
  } catch (error) {
    if (io.signal.aborted) return exitCodeForAbort(io.signal.reason);
    if (deadline?.reached) return reportError(io, format, deadline.failure(error), debug);
    return reportError(io, format, fileSystemFailure(error) ?? error, debug);
  }
}

function buildParser(argv: string[], select: (def: CommandDef<any, any>, args: Selected['args']) => void): Argv {
  const parser = yargs(argv)
    .scriptName('mx')
    .usage('mx <command> [options]\n\nA scriptable command-line client for the Matrix client-server API.')
    .options(GLOBAL_OPTIONS)
    .completion(COMPLETION_COMMAND.command, COMPLETION_COMMAND.describe)
    .version(VERSION_OPTION.name, VERSION_OPTION.describe, VERSION)
    .help(HELP_OPTION.name, HELP_OPTION.describe)
    .alias(HELP_OPTION.name, HELP_OPTION.alias)
    .alias(VERSION_OPTION.name, VERSION_OPTION.alias)
    .strict()
    .strictCommands()
    .demandCommand(1, 'give a command (mx --help lists them)')
    .epilogue('mx help COMMAND [SUBCOMMAND] shows the full reference of a command; man mx shows them all.')
    .exitProcess(false)
    .wrap(100)
    .fail((message, error) => {
      // yargs writes some messages over several lines; an mx error is one line.
      throw error ?? new UsageError(`${message.replace(/\s*\n\s*/g, ' ')} (see --help)`);
    });
  for (const def of commands) register(parser, def, select);
  skipHelpCache(parser);
  return parser;
}

function register(parser: Argv<any>, def: CommandDef<any, any>, select: (def: CommandDef<any, any>, args: Selected['args']) => void): void {
  parser.command({
    command: def.command,
    describe: def.describe,
    aliases: def.aliases ?? [],
    builder: (y: Argv<any>) => {
      if (def.subcommands) {
        for (const sub of def.subcommands) register(y, sub, select);
        if (!def.run) return y.demandCommand(1, `give a ${def.command.split(' ')[0]} command`);
        // A noun that also acts by itself (`mx verify @bob`): its own action is its default
        // command, so that its positionals and options are not its verbs' too.
        const [, ...positionals] = def.command.split(/\s+/);
        return y.command({
          command: ['$0', ...positionals].join(' '),
          describe: false,
          builder: (inner: Argv<any>) => (def.builder ? def.builder(inner) : inner),
          handler: (args: Selected['args']) => select(def, args),
        });
      }
      return def.builder ? def.builder(y) : y;
    },
    handler: (args: Selected['args']) => {
      if ((def.run || def.print) && !def.subcommands) select(def, args);
    },
  });
}

function pickGlobals(args: GlobalArgs): GlobalArgs {
  const { profile, homeserver, output, config, retries, maxTime, connectTimeout, cacert } = args;
  return { profile, homeserver, output, config, retries, maxTime, connectTimeout, cacert };
}

/** --retries, else MX_RETRIES: a whole number of retries, 0 to fail at the first error. */
function retriesSetting(flag: number | undefined, io: Io): number | undefined {
  const raw = flag ?? (io.env.MX_RETRIES ? Number(io.env.MX_RETRIES) : undefined);
  return wholeNumber(raw, flag === undefined ? 'MX_RETRIES' : '--retries', { min: 0, max: 100 });
}

function envOutput(io: Io): OutputFormat | undefined {
  const value = io.env.MX_OUTPUT;
  if (value === undefined || value === '') return undefined;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) {
    throw new UsageError(`MX_OUTPUT must be one of ${OUTPUT_FORMATS.join(', ')}, not "${printable(value)}"`);
  }
  return value as OutputFormat;
}

/** Before yargs has parsed anything (a usage error), read -o/--output and --debug by hand. */
function rawOutputFlag(argv: string[]): OutputFormat | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = arg === '-o' || arg === '--output' ? argv[i + 1] : arg.startsWith('--output=') ? arg.slice(9) : undefined;
    if (value && (OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  }
  return undefined;
}

function argvDebug(argv: string[], io: Io): boolean {
  return argv.includes('--debug') || isTruthy(io.env.MX_DEBUG);
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}
