// Waiting for a condition that others (the SDK, the server, mx) bring about.

/** Polls `check` (sync or async) every 25 ms until it returns a non-undefined value, or throws `describe()` after `timeoutMs`. */
export async function pollFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, describe: () => string | Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(await describe());
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
