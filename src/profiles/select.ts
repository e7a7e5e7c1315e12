import { LocalStateError, UsageError } from '../errors.js';
import { printable } from '../matrix/identifiers.js';
import type { MxConfig } from './config.js';
import type { StoreData } from './store.js';

export const DEFAULT_PROFILE_NAME = 'default';

// Letters, digits, '.', '_', '-'; no leading '.' (so never '.' or '..'), 1-64 characters.
const PROFILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export function isValidProfileName(name: string): boolean {
  // "__proto__" as a key of a plain object sets its prototype: such a profile would never be saved.
  return PROFILE_NAME.test(name) && name !== '__proto__';
}

/** Throws a UsageError naming where the bad name came from (e.g. "--profile", "MX_PROFILE"). */
export function validateProfileName(name: string, source = 'profile name'): string {
  if (!isValidProfileName(name)) {
    throw new UsageError(
      `Invalid profile name "${printable(name)}" (from ${source}): use 1-64 letters, digits, '.', '_' or '-', not starting with '.'.`,
    );
  }
  return name;
}

/**
 * Which profile a command acts as: `--profile` > `MX_PROFILE` > the config file's `profile`
 * > the store's `defaultProfile` > "default". An empty MX_PROFILE counts as unset.
 */
export function selectProfileName(opts: {
  flag?: string | undefined;
  env: Record<string, string | undefined>;
  config?: Pick<MxConfig, 'profile'> | undefined;
  data?: Pick<StoreData, 'defaultProfile'> | undefined;
}): string {
  if (opts.flag !== undefined) return validateProfileName(opts.flag, '--profile');
  if (opts.env.MX_PROFILE) return validateProfileName(opts.env.MX_PROFILE, 'MX_PROFILE');
  if (opts.config?.profile !== undefined) return validateProfileName(opts.config.profile, 'the config file');
  const stored = opts.data?.defaultProfile;
  if (stored !== undefined) {
    // Nobody typed this one: a bad name here is a damaged store, not a usage error.
    if (!isValidProfileName(stored)) {
      throw new LocalStateError(
        `The profile store's defaultProfile "${printable(stored)}" is not a valid profile name; fix it or pick another with --profile.`,
      );
    }
    return stored;
  }
  return DEFAULT_PROFILE_NAME;
}
