/**
 * After running a command's handler, yargs renders that command's whole help text and keeps it
 * for a later showHelp() (yargs' command.js, "cacheHelpMessage"). mx's handlers only pick the
 * command, mx runs it after the parse and never calls showHelp(), so the rendering (a third of
 * the parse time, and what loads the Unicode width tables) is skipped. --help is unaffected.
 * The build checks that yargs still has this private method and calls it (check.mjs).
 */
import type { Argv } from 'yargs';

interface YargsInternals {
  getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
}

export function skipHelpCache(parser: Argv): void {
  const usage = (parser as unknown as YargsInternals).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}
