import { homedir } from 'node:os';
import path from 'node:path';

export interface MxPaths {
  /** User defaults (config.json / config.yaml / config.yml). */
  configDir: string;
  /** Machine-written state: the profile store. */
  stateDir: string;
  /** The profile store: credentials and stream positions for every profile. */
  storeFile: string;
}

/**
 * Where mx keeps its files, following the XDG base directory spec:
 * config in `$XDG_CONFIG_HOME/mx` (default `~/.config/mx`), state in `$XDG_STATE_HOME/mx`
 * (default `~/.local/state/mx`). `MX_CONFIG_DIR=DIR` puts both in DIR (tests, CI, several
 * independent setups on one machine).
 */
export function resolvePaths(
  env: Record<string, string | undefined>,
  cwd: string = process.cwd(),
): MxPaths {
  const override = env.MX_CONFIG_DIR;
  if (override) {
    const dir = path.resolve(cwd, override);
    return { configDir: dir, stateDir: dir, storeFile: path.join(dir, 'profiles.json') };
  }
  const home = env.HOME || homedir();
  const configDir = path.join(xdgBase(env.XDG_CONFIG_HOME) ?? path.join(home, '.config'), 'mx');
  const stateDir = path.join(xdgBase(env.XDG_STATE_HOME) ?? path.join(home, '.local', 'state'), 'mx');
  return { configDir, stateDir, storeFile: path.join(stateDir, 'profiles.json') };
}

/** The spec says relative XDG paths are invalid and must be ignored; so is an empty one. */
function xdgBase(value: string | undefined): string | undefined {
  return value && path.isAbsolute(value) ? value : undefined;
}
