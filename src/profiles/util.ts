/** Small helpers shared by the profile store and config loading. */
import { errorMessage } from '../fs-util.js';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON.parse's message without V8's quote of the input (the store holds tokens, and the
 * message may end up in a CI log), with the position given as line and column.
 */
export function describeJsonError(err: unknown, text: string): string {
  const message = errorMessage(err).replace(/, .* is not valid JSON$/s, '');
  return message.replace(/ at position (\d+)/, (_, pos: string) => {
    const lines = text.slice(0, Number(pos)).split('\n');
    return ` at line ${lines.length}, column ${lines[lines.length - 1]!.length + 1}`;
  });
}
