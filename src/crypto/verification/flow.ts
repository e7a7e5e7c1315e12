/**
 * One verification (m.sas.v1) gone through in the fork's engine, step by step, whoever started
 * it and whoever sends `start`: the spec lets either side send it, and some clients answer a
 * request with `ready` and wait. So the side that sent the request starts the SAS as soon as the
 * request is ready; the side that accepted waits a moment for the other's `start`, then sends its
 * own (when both do, the engine keeps the one the spec says wins, and mx accepts it).
 *
 * The engine checks the protocol: a garbled, unexpected or out-of-order message from the other
 * side makes it cancel the flow with the spec's code (or ignore the message), which ends here as
 * a cancel. Time limits: the spec's (10 minutes for a request, the engine's for the SAS steps)
 * and the caller's `deadline`.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import type { EngineFork } from './fork.js';
import { removeFlow, saveFlow, type FlowRecord } from './inbox.js';
import { isRoomRequest, type Arrivals, type VerificationLink } from './link.js';

export interface EmojiStep {
  symbol: string;
  /** The spec's English name (what --expect compares). */
  name: string;
  /** The emoji's number in the spec's table (0-63). */
  index: number;
}

export type VerificationStep =
  | { step: 'request'; flow_id: string; user_id: string; device_id?: string; room_id?: string; we_started: boolean }
  | { step: 'ready'; flow_id: string; user_id: string; device_id?: string }
  | { step: 'sas'; flow_id: string; user_id: string; device_id: string; emoji: EmojiStep[]; decimals: number[] }
  | { step: 'confirmed'; flow_id: string }
  | { step: 'cancelled'; flow_id: string; code: string; reason: string; by: 'us' | 'them' };

export type SasStep = Extract<VerificationStep, { step: 'sas' }>;

/** How a flow ended. */
export type FlowEnd =
  | { kind: 'done'; request: Sdk.VerificationRequest; otherDeviceId: string }
  | { kind: 'cancelled'; code: string; reason: string; by: 'us' | 'them' }
  | { kind: 'interrupted' };

export interface FlowSides {
  /** Shows a step (a JSON line, or text for a person). */
  show(step: VerificationStep): Promise<void>;
  /** Whether the emoji match (false: they do not; undefined: no answer will come). */
  answer(sas: SasStep, signal: AbortSignal): Promise<boolean | undefined>;
  /** Ctrl-C: the flow is cancelled (m.user) and ends as interrupted. */
  interrupt: AbortSignal;
  now(): number;
  debug?: (line: string) => void;
}

/** How long the side that accepted waits for the other's `start` before it sends its own. */
const START_GRACE_MS = 3_000;
/** A long poll's length while nothing else is awaited (the inbox is read after each). */
const PUMP_MS = 5_000;

export class VerificationFlow {
  private shownReady = false;
  private readyAt: number | undefined;
  private shownSas = false;
  private answer: Promise<boolean | undefined> | undefined;
  private answered: boolean | undefined | 'pending' = 'pending';
  private confirmed = false;
  /** The other side's device, once its SAS began (a request to all of a user's devices names none before). */
  private otherDevice: string | undefined;
  private readonly answerStop = new AbortController();
  private readonly record: FlowRecord;

  constructor(
    private readonly fork: EngineFork,
    private readonly link: VerificationLink,
    private readonly request: Sdk.VerificationRequest,
    private readonly sides: FlowSides,
    private readonly options: { folder: string; deadline: number; acceptIncoming: boolean },
  ) {
    this.record = {
      flow_id: request.flowId,
      pid: process.pid,
      user_id: request.otherUserId.toString(),
      ...(request.otherDeviceId ? { device_id: request.otherDeviceId.toString() } : {}),
      ...(request.roomId ? { room_id: request.roomId.toString() } : {}),
      phase: 'requested',
      we_started: request.weStarted(),
      started_at: sides.now(),
    };
  }

  get flowId(): string {
    return this.request.flowId;
  }

  /** Goes through the flow until it is done, cancelled, timed out or interrupted. */
  async run(): Promise<FlowEnd> {
    await saveFlow(this.options.folder, this.record);
    try {
      await this.sides.show({ step: 'request', flow_id: this.flowId, ...this.who(), we_started: this.request.weStarted() });
      for (;;) {
        const end = await this.act();
        if (end) return end;
        await this.receive(await this.link.pump(this.pollMs(), this.wakeSignal()));
      }
    } finally {
      this.answerStop.abort();
      removeFlow(this.options.folder, this.flowId);
    }
  }

  /** Gives the fork what arrived for this flow (other flows' messages are not this process's). */
  private async receive(arrivals: Arrivals): Promise<void> {
    const { fork, flowId } = this;
    if (arrivals.cancels.includes(flowId)) await this.cancel('m.user');
    const mine = arrivals.toDevice.filter((e) => e.content.transaction_id === flowId);
    try {
      await fork.receiveToDevice(mine);
      for (const { roomId, event } of arrivals.roomEvents) {
        const relates = (event.content as { 'm.relates_to'?: { event_id?: unknown } })['m.relates_to'];
        if (event.event_id === flowId || relates?.event_id === flowId) {
          if (!isRoomRequest(event)) await fork.receiveRoomEvent(clientEvent(event as unknown as Record<string, unknown>, roomId), roomId);
        }
      }
      // Lets the engine look at its clocks (a step that timed out is cancelled there).
      await fork.receiveToDevice([]);
    } catch (error) {
      // The engine refuses what it cannot read; the flow goes on (or the engine cancelled it).
      this.sides.debug?.(`verification: a message was refused: ${(error as Error).message}`);
    }
  }

  /** One look at the flow's state, and what it asks of this side. An end, or undefined to go on. */
  private async act(): Promise<FlowEnd | undefined> {
    const { request, fork, sides } = this;
    const { sdk } = fork;
    const Phase = sdk.VerificationRequestPhase;
    if (sides.interrupt.aborted) {
      await this.cancel('m.user');
      return { kind: 'interrupted' };
    }
    const phase = request.phase();
    if (phase === Phase.Cancelled) return this.cancelled();
    if (phase === Phase.Done) return { kind: 'done', request, otherDeviceId: this.otherDevice ?? request.otherDeviceId?.toString() ?? '' };
    if (sides.now() > this.options.deadline) {
      await this.cancel('m.timeout');
      return this.cancelled();
    }
    if (phase === Phase.Requested && !request.weStarted() && this.options.acceptIncoming) {
      await fork.sendOne(request.acceptWithMethods([sdk.VerificationMethod.SasV1]));
      await this.progress('accepted');
      return undefined;
    }
    if (phase === Phase.Ready) {
      this.readyAt ??= sides.now();
      if (!this.shownReady) {
        this.shownReady = true;
        await this.progress('ready');
        await sides.show({ step: 'ready', flow_id: this.flowId, ...this.who() });
      }
      if (request.weStarted() || sides.now() - this.readyAt >= START_GRACE_MS) {
        const started = await request.startSas();
        if (started) await fork.sendOne(started[1]);
      }
      return undefined;
    }
    if (phase === Phase.Transitioned) return this.actOnSas();
    return undefined;
  }

  private async actOnSas(): Promise<FlowEnd | undefined> {
    const { request, fork, sides } = this;
    const sas = request.getVerification();
    if (!(sas instanceof fork.sdk.Sas)) {
      // Another method (a QR code) was started: mx does only emoji.
      await this.cancel('m.unknown_method');
      return this.cancelled();
    }
    this.otherDevice = sas.otherDeviceId.toString();
    if (!sas.weStarted() && !sas.hasBeenAccepted()) {
      await fork.sendOne(sas.accept());
      await this.progress('started');
    }
    if (sas.canBePresented() && !this.shownSas) {
      this.shownSas = true;
      await this.progress('comparing');
      const step = sasStep(sas, this.flowId, this.who().user_id);
      await sides.show(step);
      this.answer = sides.answer(step, this.answerStop.signal);
      this.answer.then((value) => (this.answered = value), () => (this.answered = undefined));
    }
    if (this.answered !== 'pending' && !this.confirmed) {
      if (this.answered === true) {
        this.confirmed = true;
        for (const outgoing of await sas.confirm()) await fork.sendOne(outgoing);
        await fork.send();
        await sides.show({ step: 'confirmed', flow_id: this.flowId });
        await this.progress('confirmed');
      } else {
        await this.cancel(this.answered === false ? 'm.mismatched_sas' : 'm.user');
        return this.cancelled();
      }
    }
    sas.free();
    return undefined;
  }

  /** Cancels the flow (to the other side too) with the spec's code. */
  private async cancel(code: string): Promise<void> {
    const { request, fork } = this;
    if (request.isCancelled() || request.isDone()) return;
    const sas = request.getVerification();
    const outgoing = sas instanceof fork.sdk.Sas ? sas.cancelWithCode(code) : undefined;
    // A request not yet started can only be cancelled as a whole (the engine says m.user).
    await fork.sendFinal(outgoing ?? request.cancel());
    if (code !== 'm.user' && !outgoing) this.localCode = code;
  }

  /** A code this side cancelled with that the engine could not carry (a request cancelled before its SAS). */
  private localCode: string | undefined;

  private async cancelled(): Promise<FlowEnd> {
    const info = this.request.cancelInfo;
    const end: FlowEnd = {
      kind: 'cancelled',
      code: this.localCode ?? info?.cancelCode() ?? 'm.user',
      reason: info?.reason() ?? 'cancelled',
      by: info?.cancelledbyUs() === false ? 'them' : 'us',
    };
    await this.sides.show({ step: 'cancelled', flow_id: this.flowId, code: end.code, reason: end.reason, by: end.by });
    return end;
  }

  private who(): { user_id: string; device_id?: string; room_id?: string } {
    const { request } = this;
    return {
      user_id: request.otherUserId.toString(),
      ...(request.otherDeviceId ? { device_id: request.otherDeviceId.toString() } : {}),
      ...(request.roomId ? { room_id: request.roomId.toString() } : {}),
    };
  }

  private async progress(phase: string): Promise<void> {
    this.record.phase = phase;
    const device = this.request.otherDeviceId?.toString();
    if (device) this.record.device_id = device;
    await saveFlow(this.options.folder, this.record);
  }

  /** Short polls while something may need this side soon (a start to send, an answer to act on). */
  private pollMs(): number {
    const phase = this.request.phase();
    if (phase === this.fork.sdk.VerificationRequestPhase.Ready && !this.request.weStarted()) return 1_000;
    return PUMP_MS;
  }

  /** A poll ends early when the person answers or presses Ctrl-C. */
  private wakeSignal(): AbortSignal {
    const signals = [this.sides.interrupt];
    if (this.answer && this.answered === 'pending') {
      const answered = new AbortController();
      void this.answer.finally(() => answered.abort());
      signals.push(answered.signal);
    }
    return AbortSignal.any(signals);
  }
}

/** The SAS as a step: the emoji with their spec names and numbers, and the decimals. */
function sasStep(sas: Sdk.Sas, flowId: string, userId: string): SasStep {
  const emoji = sas.emoji() ?? [];
  const indices = [...(sas.emojiIndex() ?? [])];
  return {
    step: 'sas',
    flow_id: flowId,
    user_id: userId,
    device_id: sas.otherDeviceId.toString(),
    emoji: emoji.map((e, i) => ({ symbol: e.symbol, name: e.description, index: indices[i] ?? -1 })),
    decimals: [...(sas.decimals() ?? [])],
  };
}

/** A room event as the engine reads it: the client event format with its room. */
function clientEvent(event: Record<string, unknown>, roomId: string): Record<string, unknown> {
  const { encryption: _encryption, ...rest } = event;
  return { ...rest, room_id: roomId };
}

