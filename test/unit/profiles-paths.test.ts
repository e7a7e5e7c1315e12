import { homedir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/profiles/paths.js';

describe('resolvePaths', () => {
  it('uses the XDG defaults under HOME', () => {
    expect(resolvePaths({ HOME: '/home/ann' })).toEqual({
      configDir: '/home/ann/.config/mx',
      stateDir: '/home/ann/.local/state/mx',
      storeFile: '/home/ann/.local/state/mx/profiles.json',
    });
  });

  it('follows XDG_CONFIG_HOME and XDG_STATE_HOME', () => {
    expect(resolvePaths({ HOME: '/home/ann', XDG_CONFIG_HOME: '/cfg', XDG_STATE_HOME: '/st' })).toEqual({
      configDir: '/cfg/mx',
      stateDir: '/st/mx',
      storeFile: '/st/mx/profiles.json',
    });
  });

  it('ignores relative or empty XDG variables, as the spec says', () => {
    const paths = resolvePaths({ HOME: '/home/ann', XDG_CONFIG_HOME: 'rel/cfg', XDG_STATE_HOME: '' });
    expect(paths.configDir).toBe('/home/ann/.config/mx');
    expect(paths.stateDir).toBe('/home/ann/.local/state/mx');
  });

  it('puts everything in MX_CONFIG_DIR when set, over XDG', () => {
    expect(resolvePaths({ HOME: '/home/ann', XDG_CONFIG_HOME: '/cfg', MX_CONFIG_DIR: '/tmp/mx-ci' })).toEqual({
      configDir: '/tmp/mx-ci',
      stateDir: '/tmp/mx-ci',
      storeFile: '/tmp/mx-ci/profiles.json',
    });
  });

  it('resolves a relative MX_CONFIG_DIR against the working directory', () => {
    expect(resolvePaths({ MX_CONFIG_DIR: 'state' }, '/work/proj').storeFile).toBe('/work/proj/state/profiles.json');
  });

  it('falls back to the OS home folder without HOME', () => {
    expect(resolvePaths({}).configDir).toBe(path.join(homedir(), '.config', 'mx'));
  });
});
