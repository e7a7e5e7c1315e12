export const OUTPUT_FORMATS = ['json', 'table', 'text'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * The format a command prints in: what the user asked for (flag, env or config), else a
 * human format on a terminal and compact JSON when stdout is piped, for scripts and jq.
 * `human` is the command's own preference between table and text.
 */
export function chooseFormat(requested: OutputFormat | undefined, stdoutIsTTY: boolean, human: 'table' | 'text'): OutputFormat {
  return requested ?? (stdoutIsTTY ? human : 'json');
}

/** Colour only for a terminal, and never when NO_COLOR is set; FORCE_COLOR overrides both. */
export function colourEnabled(env: Record<string, string | undefined>, isTTY: boolean): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  if (env.NO_COLOR) return false;
  return isTTY;
}
