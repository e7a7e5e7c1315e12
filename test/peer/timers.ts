// matrix-js-sdk 37.5.0 leaves long, ref'd timers behind that stopClient() does not clear:
// - every request with a local time limit (each /sync long poll: 30 s + 80 s buffer; each
//   crypto request: 60 s) gets an AbortSignal from its own ponyfill, http-api/utils.js
//   timeoutSignal(): a plain setTimeout that is never cleared, even when the request is done;
// - every live encrypted event that stays undecryptable gets a 5-minute timer
//   (rust-crypto.js onLiveEventFromSync), cleared only if the event is decrypted.
// They keep the event loop alive for minutes after the peer has stopped (vitest's forks pool
// kills its workers anyway; a plain node script or a threads pool would hang).
//
// Those timers only abort a request or drop a listener. While a request is in flight its
// socket keeps the process alive anyway, and a test that waits for a peer has its own timers.
// So the peer unrefs them: a wrapper around the global setTimeout looks at calls of 15 s or
// more (rare) and unrefs the ones made from matrix-js-sdk's code (seen in the stack). Node's
// own AbortSignal.timeout() timers are unref'd in the same way. Shorter timers are untouched;
// none of them is left after stop(). The wrapper is installed once per process.

let installed = false;

export const LONG_TIMER_MS = 15_000;

export function unrefLongSdkTimers(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.setTimeout;
  const wrapped = function (handler: (...args: any[]) => void, delay?: number, ...args: any[]) {
    const timer = (original as (...a: unknown[]) => ReturnType<typeof setTimeout>)(handler, delay, ...args);
    if (typeof delay === 'number' && delay >= LONG_TIMER_MS && typeof timer?.unref === 'function') {
      const stack = new Error().stack ?? '';
      if (/[\\/]node_modules[\\/]matrix-js-sdk[\\/]lib[\\/]/.test(stack)) timer.unref();
    }
    return timer;
  };
  // Keep util.promisify(setTimeout), name and length as they were.
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(original));
  globalThis.setTimeout = wrapped as typeof setTimeout;
}
