/**
 * The crypto engine's glue logs with console.debug and console.info, which Node writes to
 * stdout, where mx's output goes (NDJSON that scripts read). The glue has no logger option, so
 * those two methods of the process's console are pointed at mx's --debug output (stderr), or
 * nowhere. Nothing in mx logs through console, so nothing else is affected; console.warn and
 * console.error (the engine's warnings and a Rust panic) already go to stderr and stay. The
 * build checks that the glue uses no other console method (check.mjs).
 */
export function sendEngineConsoleToDebug(debug: ((line: string) => void) | undefined): void {
  const toDebug = (...args: unknown[]) => debug?.(`crypto: ${args.map(String).join(' ')}`);
  console.debug = toDebug;
  console.info = toDebug;
}
