import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  // As scripts/build.mjs does for the bundle (src/version.ts).
  define: { __MX_VERSION__: JSON.stringify(version) },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Checks after each test that every MockAgent interceptor it set up was used.
          setupFiles: ['test/unit/setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          // Starts one Synapse for the whole run (or checks MX_TEST_HOMESERVER) and provides
          // its URL via inject('homeserver'). It throws when no server can be had, which fails
          // the run instead of skipping the e2e tests.
          globalSetup: ['test/homeserver/global-setup.ts'],
          // Each test spawns the CLI (a Node start-up) against a real server on a small machine.
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
