/** Replaced by package.json's version: by the build (scripts/build.mjs) and in tests (vitest.config.ts). */
declare const __MX_VERSION__: string;

/** mx's version. package.json is its one home (bin/mx.js reads it there for `--version`). */
export const VERSION: string = __MX_VERSION__;
