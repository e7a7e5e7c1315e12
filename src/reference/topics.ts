/**
 * The parts of the man page that are not command definitions: the environment variables mx
 * reads and the files it keeps. Text is Markdown inline (`code`), as in the README, whose
 * "Environment" table a test keeps equal to ENVIRONMENT.
 */

export interface Entry {
  /** What is described: a variable (or several), a file. */
  name: string;
  meaning: string;
}

export const ENVIRONMENT: Entry[] = [
  { name: '`MX_PROFILE`', meaning: 'profile to use' },
  { name: '`MX_HOMESERVER`', meaning: 'homeserver base URL' },
  { name: '`MX_ACCESS_TOKEN`', meaning: 'access token (with `MX_HOMESERVER`: no profile needed)' },
  { name: '`MX_PASSWORD`', meaning: 'password for `register`, `login`, and the server\'s questions in `crypto setup` and `device delete`' },
  { name: '`MX_RECOVERY_KEY`', meaning: 'recovery key (or secret storage passphrase) for `crypto recover`, and for `login` to verify the new device' },
  { name: '`MX_PASSPHRASE`', meaning: 'passphrase of a key file, for `crypto export` and `crypto import`' },
  { name: '`MX_LOGIN_TOKEN`', meaning: 'login token for `login --token`' },
  { name: '`MX_REGISTRATION_TOKEN`', meaning: 'registration token for `register`' },
  { name: '`MX_OUTPUT`', meaning: 'default output format' },
  { name: '`MX_RETRIES`', meaning: 'same as `--retries`' },
  { name: '`MX_MAX_TIME`', meaning: 'same as `--max-time` (`0`: no limit, over a config file\'s)' },
  { name: '`MX_CONNECT_TIMEOUT`', meaning: 'same as `--connect-timeout`' },
  { name: '`MX_CACERT`', meaning: 'same as `--cacert`' },
  { name: '`MX_SHARE_KEYS_WITH`', meaning: 'same as `--share-keys-with` of `send` and `react`: `cross-signed` (default) or `all`' },
  { name: '`MX_DEBUG=1`', meaning: 'same as `--debug`' },
  { name: '`MX_CONFIG_DIR`', meaning: 'one folder for both config and profile store (tests, CI)' },
  { name: '`MX_CODE_CACHE=off`', meaning: 'start without the compiled-code cache (see `docs/performance.md`)' },
  { name: '`XDG_CONFIG_HOME`, `XDG_STATE_HOME`', meaning: 'base folders (defaults `~/.config`, `~/.local/state`)' },
  { name: '`NO_COLOR`, `FORCE_COLOR`', meaning: 'colour off / on' },
  {
    name: '`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`',
    meaning: 'send requests through this proxy (https / http homeservers), except to the hosts listed in `NO_PROXY`; lower-case names win, as in curl',
  },
  { name: '`MX_TEST_HOMESERVER`', meaning: 'tests only: use this running homeserver instead of starting Synapse' },
];

export const FILES: Entry[] = [
  {
    name: '`$XDG_CONFIG_HOME/mx/config.json`',
    meaning:
      'optional user defaults (or `config.yaml`, `config.yml`; default folder `~/.config/mx`): `profile`, `homeserver`, `output`, `max_time`, `connect_timeout`, `cacert`, `share_keys_with`. JSON or YAML only; a config file never runs code',
  },
  {
    name: '`$XDG_STATE_HOME/mx/profiles.json`',
    meaning:
      'the profile store (default `~/.local/state/mx/profiles.json`): every profile\'s homeserver, user, device, access token and stream positions; mode 0600 in a 0700 folder, written atomically under a lock',
  },
  {
    name: '`$XDG_STATE_HOME/mx/crypto/`',
    meaning: 'one encrypted crypto store per device (its keys, Olm and Megolm sessions), 0700; deleted by `logout` and `profile rm`',
  },
  { name: '`$XDG_CACHE_HOME/mx/`', meaning: 'compiled-code caches (default `~/.cache/mx`); safe to delete' },
  { name: '`$MX_CONFIG_DIR`', meaning: 'when set, holds both the config file and the profile store (with its crypto stores)' },
];
