/**
 * A verification's steps as mx shows them, and the answer to the emoji: on a terminal, text and
 * a yes/no question; piped, one JSON line per step on stdout and `yes` or `no` read from stdin;
 * with --expect, the emoji names compared with the ones given (no question asked).
 */
import type { Context } from '../../context.js';
import type { FlowSides, SasStep, VerificationStep } from '../../crypto/verification/flow.js';
import type { DoneStep } from '../../crypto/verification/result.js';
import { nodeReadline } from '../../builtins.js';
import type { Colours } from '../../output/colour.js';

export function flowSides(ctx: Context, expect: string[] | undefined): FlowSides {
  const answers = expect ? undefined : new AnswerReader(ctx);
  return {
    show: (step) => ctx.out.item(step, stepText),
    answer: async (sas, signal) => (expect ? sameNames(sas, expect) : answers!.ask(signal)),
    interrupt: ctx.io.signal,
    now: ctx.io.now,
    debug: ctx.debug,
  };
}

/** --expect: the seven names, in order (the spec's English names; case does not matter). */
function sameNames(sas: SasStep, expect: string[]): boolean {
  const names = sas.emoji.map((e) => e.name.toLowerCase());
  return names.length === expect.length && names.every((name, i) => name === expect[i]!.toLowerCase());
}

/** Reads `yes` / `no` answers from stdin, one line each (a prompt on stderr when it is a terminal). */
class AnswerReader {
  private lines: AsyncIterator<string> | undefined;

  constructor(private readonly ctx: Context) {}

  async ask(signal: AbortSignal): Promise<boolean | undefined> {
    const { io } = this.ctx;
    if (!this.lines) {
      const { createInterface } = nodeReadline();
      this.lines = createInterface({ input: io.stdin, crlfDelay: Infinity, signal })[Symbol.asyncIterator]();
    }
    for (;;) {
      if (io.stdinIsTTY) io.stderr.write('Do the emoji match on both screens? [yes/no] ');
      let next: IteratorResult<string>;
      try {
        next = await this.lines.next();
      } catch {
        return undefined;
      }
      if (next.done) return undefined;
      const word = next.value.trim().toLowerCase();
      if (word === 'yes' || word === 'y') return true;
      if (word === 'no' || word === 'n') return false;
      this.ctx.warn(`answer yes or no (not ${JSON.stringify(next.value.slice(0, 40))})`);
    }
  }
}

export function stepText(step: VerificationStep | DoneStep, c: Colours): string {
  const who = (user: string, device?: string) => `${user}${device ? ` (device ${device})` : ''}`;
  switch (step.step) {
    case 'request':
      return step.we_started
        ? `Asked ${who(step.user_id, step.device_id)} to verify${step.room_id ? ` in ${step.room_id}` : ''}; waiting for them to accept (flow ${step.flow_id})`
        : `${who(step.user_id, step.device_id)} asks to verify (flow ${step.flow_id})`;
    case 'ready':
      return `${who(step.user_id, step.device_id)} is ready: comparing emoji`;
    case 'sas':
      return [
        `Compare these emoji with the ones on ${who(step.user_id, step.device_id)}:`,
        `  ${step.emoji.map((e) => `${e.symbol}  ${c.bold(e.name)}`).join('   ')}`,
        `  (or these numbers: ${step.decimals.join(' ')})`,
      ].join('\n');
    case 'confirmed':
      return 'They match on this side; waiting for the other side to confirm';
    case 'cancelled':
      return `Cancelled by ${step.by === 'us' ? 'this side' : 'the other side'}: ${step.reason} (${step.code})`;
    case 'done':
      return doneText(step);
  }
}

function doneText(step: DoneStep): string {
  const lines = [
    step.this_device_cross_signed !== undefined
      ? step.this_device_cross_signed
        ? `Verified: this device is cross-signed by ${step.user_id} (with device ${step.device_id})`
        : `The verification with device ${step.device_id} is done, but the server does not show this device cross-signed`
      : step.identity_verified
        ? `Verified: ${step.user_id}'s identity (their events now show identity "verified")`
        : step.device_verified
          ? `Verified: device ${step.device_id} of ${step.user_id}`
          : `The verification with ${step.user_id} is done, but the server does not show them verified`,
  ];
  if (step.secrets) {
    lines.push(`Secrets received: cross-signing keys ${step.secrets.cross_signing ? 'yes' : 'no'}, backup key ${step.secrets.backup ? 'yes' : 'no'}`);
  }
  if (step.backup) lines.push(`Key backup version ${step.backup.version}: ${step.backup.imported} of ${step.backup.keys} room keys imported`);
  return lines.join('\n');
}
