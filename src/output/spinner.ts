import type { Io } from '../io.js';
import { showControls } from './safe-text.js';

/**
 * Shows an ora spinner on stderr while `work` runs, only for a person at a terminal: never
 * with JSON output, never in CI, never when stderr is piped. ora is imported only then.
 */
export async function withSpinner<T>(io: Io, enabled: boolean, text: string, work: (setText: (text: string) => void) => Promise<T>): Promise<T> {
  if (!enabled || !io.stderrIsTTY || io.env.CI) return work(() => {});
  const { default: ora } = await import('ora');
  // Its text may name what the server called a file: shown, never acted on by the terminal.
  const spinner = ora({ text: showControls(text), stream: io.stderr, discardStdin: false }).start();
  try {
    return await work((next) => (spinner.text = showControls(next)));
  } finally {
    spinner.stop();
  }
}

/** A text progress bar: `[########------------]  40%  4.0 of 10.0 MB` (or the bytes so far when the total is unknown). */
export function progressText(what: string, received: number, total: number | undefined): string {
  const mb = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (!total) return `${what}  ${mb(received)}`;
  const share = Math.min(1, received / total);
  const filled = Math.round(share * 20);
  return `${what}  [${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ${String(Math.round(share * 100)).padStart(3)}%  ${mb(received)} of ${mb(total)}`;
}
