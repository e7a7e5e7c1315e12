/**
 * What every command takes, besides its own options: the global flags, and yargs' built-in
 * --help, --version and `completion`. main.ts declares them to yargs from here, and the full
 * reference (`mx help COMMAND`, the man page) reads them from here too.
 */
import type { Options } from 'yargs';
import { OUTPUT_FORMATS } from '../output/format.js';

export const GLOBAL_OPTIONS = {
  profile: { alias: 'p', type: 'string', global: true, describe: 'profile to use (or MX_PROFILE)' },
  homeserver: { type: 'string', global: true, describe: 'homeserver base URL (or MX_HOMESERVER)' },
  output: { alias: 'o', type: 'string', choices: OUTPUT_FORMATS, global: true, describe: 'output format (default: text/table on a terminal, JSON when piped)' },
  debug: { type: 'boolean', global: true, describe: 'log each HTTP request to stderr, secrets redacted (or MX_DEBUG=1)' },
  config: { type: 'string', global: true, describe: 'load this JSON or YAML config file' },
  retries: { type: 'number', global: true, describe: 'retries of a request after a rate limit or network error (default 5 and 3; or MX_RETRIES)' },
  'max-time': { type: 'number', global: true, describe: 'end the command after this many seconds, retries included, with exit code 7 (tail: the longest silence of a poll past --timeout; or MX_MAX_TIME)' },
  'connect-timeout': { type: 'number', global: true, describe: 'seconds a connection may take to open (default 10; or MX_CONNECT_TIMEOUT)' },
  cacert: { type: 'string', global: true, describe: 'also trust the CA certificates in this PEM file (a self-hosted server\'s private CA; or MX_CACERT)' },
} as const satisfies Record<string, Options>;

/** yargs' own options, with the short aliases mx gives them. */
export const HELP_OPTION = { name: 'help', alias: 'h', describe: 'Show help' } as const;
export const VERSION_OPTION = { name: 'version', alias: 'V', describe: 'Show version number' } as const;

/** yargs' completion command (completions/ call it through --get-yargs-completions). */
export const COMPLETION_COMMAND = { command: 'completion', describe: 'Print a shell completion script (bash, zsh)' } as const;
