// Set up for every unit test file (vitest.config.ts, project "unit", setupFiles).
import { afterEach } from 'vitest';
import { verifyMockAgents } from './fake-io.js';

// A test that sets up an answer mx never asked for fails: its claim was not exercised.
afterEach(() => verifyMockAgents());
