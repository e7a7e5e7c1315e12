/** A few ANSI styles; identity functions when colour is off. (No chalk: it costs start-up time.) */
export interface Colours {
  bold: (s: string) => string;
  dim: (s: string) => string;
  red: (s: string) => string;
  green: (s: string) => string;
  yellow: (s: string) => string;
}

/** The SGR parameters the styles below use: the only escape sequences mx writes (safe-text.ts lets these through). */
export const SGR_CODES = [1, 2, 22, 31, 32, 33, 39] as const;
type SgrCode = (typeof SGR_CODES)[number];

const style = (open: SgrCode, close: SgrCode) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

export function colours(enabled: boolean): Colours {
  return enabled
    ? { bold: style(1, 22), dim: style(2, 22), red: style(31, 39), green: style(32, 39), yellow: style(33, 39) }
    : { bold: plain, dim: plain, red: plain, green: plain, yellow: plain };
}
