/**
 * The environment of a program mx starts (the browser for single sign-on, tail's pipe
 * watcher): mx's own without any MX_ variable. Several hold secrets (MX_PASSWORD,
 * MX_ACCESS_TOKEN, MX_RECOVERY_KEY, MX_PASSPHRASE, MX_LOGIN_TOKEN, MX_REGISTRATION_TOKEN) and the
 * rest are mx's own settings, which mean nothing to another program: none is kept, so that a
 * secret variable added later cannot leak by being left off a list. Everything else (PATH,
 * DISPLAY, the locale, proxies) is what the program needs to run as the user's would.
 */
export function childEnv(env: Record<string, string | undefined>): Record<string, string> {
  const child: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    // Case-insensitive: on Windows, variable names are.
    if (value !== undefined && !/^MX_/i.test(name)) child[name] = value;
  }
  return child;
}
