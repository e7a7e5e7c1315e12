#!/usr/bin/env node
// Node >= 22.1 can cache compiled code between runs; older Node just skips it.
import module from 'node:module';
module.enableCompileCache?.();
await import('../dist/mx.mjs');
