import type { Io } from '../io.js';

/**
 * Shows an ora spinner on stderr while `work` runs, only for a person at a terminal: never
 * with JSON output, never in CI, never when stderr is piped. ora is imported only then.
 */
export async function withSpinner<T>(io: Io, enabled: boolean, text: string, work: () => Promise<T>): Promise<T> {
  if (!enabled || !io.stderrIsTTY || io.env.CI) return work();
  const { default: ora } = await import('ora');
  const spinner = ora({ text, stream: io.stderr, discardStdin: false }).start();
  try {
    return await work();
  } finally {
    spinner.stop();
  }
}
