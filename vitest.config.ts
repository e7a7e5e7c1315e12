import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
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
