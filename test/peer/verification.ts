// Interactive verification by the test peer: one flow (a matrix-js-sdk VerificationRequest) as
// Element's verification panel drives it, with SAS (emoji) as the method. See index.ts.
import {
  VerificationPhase,
  VerificationRequestEvent,
  type ShowSasCallbacks,
  type VerificationRequest,
  type Verifier,
} from 'matrix-js-sdk/lib/crypto-api/index.js';
import type { Peer } from './peer.js';
import { pollFor } from './poll.js';

export type VerificationPhaseName = 'unsent' | 'requested' | 'ready' | 'started' | 'cancelled' | 'done';

/** The short authentication string as the peer shows it: seven emoji (names as the SDK gives them, e.g. "Dog") and three numbers. */
export interface PeerSas {
  emoji: { symbol: string; name: string }[];
  decimals: number[];
}

/** How a flow ended when it was cancelled: the code (e.g. m.mismatched_sas), the reason, and whether this peer cancelled it. */
export interface PeerCancel {
  code: string;
  /** The SDK's words for the code ("Unknown cancel reason" for others): it drops the reason the other side sent. */
  reason: string;
  byUs: boolean;
}

/** The Rust objects under the SDK's request and verifier: they know the reason and the side of a cancel, the SDK's public face does not. */
interface RustCancelInfo {
  cancelCode(): string;
  reason(): string;
  cancelledbyUs(): boolean;
}
type WithRustRequest = { inner?: { cancelInfo?: RustCancelInfo } };
type WithRustSas = { inner?: { cancelInfo?(): RustCancelInfo | undefined } };

const PHASE_NAMES: Record<VerificationPhase, VerificationPhaseName> = {
  [VerificationPhase.Unsent]: 'unsent',
  [VerificationPhase.Requested]: 'requested',
  [VerificationPhase.Ready]: 'ready',
  [VerificationPhase.Started]: 'started',
  [VerificationPhase.Cancelled]: 'cancelled',
  [VerificationPhase.Done]: 'done',
};

/**
 * One verification flow of the peer, sent or received. The peer goes on with SAS on its own
 * once either side has sent m.key.verification.start (it answers another's start with
 * m.key.verification.accept, as Element's panel does); everything else waits for the test:
 * accept(), start(), confirm(), mismatch(), cancel().
 */
export class PeerVerification {
  /** The verifier the peer has called verify() on (the SDK makes one when either side starts). */
  private verifying: Verifier | undefined;
  private verified = false;

  /** Use Peer's requestOwnVerification, requestUserVerification, waitForVerificationRequest. */
  constructor(
    private readonly peer: Peer,
    /** The SDK's request, for what this class does not cover. */
    readonly request: VerificationRequest,
  ) {
    // The SDK holds its requests weakly: this listener and `request` keep the flow alive.
    request.on(VerificationRequestEvent.Change, () => this.goOnWithSas());
    this.goOnWithSas();
  }

  /** The flow's ID: the transaction_id of to-device messages, the request's event ID in a room. */
  get flowId(): string {
    return this.request.transactionId ?? '';
  }

  get otherUserId(): string {
    return this.request.otherUserId;
  }

  /** The other device: to-device flows, once it answered (or when asked by device); in a room, once it sent ready. */
  get otherDeviceId(): string | undefined {
    return this.request.otherDeviceId;
  }

  /** The room of an in-room flow; undefined for to-device. */
  get roomId(): string | undefined {
    return this.request.roomId;
  }

  get phase(): VerificationPhaseName {
    // The SDK says 'started' until the request itself is done or cancelled; a cancelled SAS says it sooner.
    if (this.verifying?.hasBeenCancelled) return 'cancelled';
    if (this.verified) return 'done';
    return PHASE_NAMES[this.request.phase];
  }

  /** Sends m.key.verification.ready (Element's "Accept"). */
  async accept(): Promise<void> {
    await this.request.accept();
  }

  /**
   * Sends m.key.verification.start with m.sas.v1 (Element's "Verify by emoji"), once the flow is
   * ready (waits for the other side's m.key.verification.ready if need be: the SDK can start only
   * with a known other device). Optional: the other side may start instead.
   */
  async start(timeoutMs = 10_000): Promise<void> {
    await this.waitForPhase('ready', timeoutMs);
    await this.request.startVerification('m.sas.v1');
    this.goOnWithSas();
  }

  /** Waits until the SAS is there to compare: both sides exchanged keys. */
  async waitForSas(timeoutMs = 10_000): Promise<PeerSas> {
    const { sas } = await this.sasCallbacks(timeoutMs);
    return {
      emoji: (sas.emoji ?? []).map(([symbol, name]) => ({ symbol, name })),
      decimals: sas.decimal ? [...sas.decimal] : [],
    };
  }

  /** "They match": resolves when the SDK has sent its m.key.verification.mac (waits for the SAS first). */
  async confirm(timeoutMs = 10_000): Promise<void> {
    await (await this.sasCallbacks(timeoutMs)).confirm();
  }

  /** "They don't match": cancels with m.mismatched_sas; resolves when the cancel is sent. */
  async mismatch(timeoutMs = 10_000): Promise<void> {
    (await this.sasCallbacks(timeoutMs)).mismatch();
    await this.peer.settleSends();
  }

  /**
   * Without `code`: the SDK's cancel (Element's "Cancel"), which always sends m.user. With a
   * `code` (the SDK takes none): a raw m.key.verification.cancel with that code and reason to the
   * other side, of which the peer's own SDK knows nothing; the flow stays open here.
   */
  async cancel(code?: string, reason = 'cancelled by the test peer'): Promise<void> {
    if (code === undefined) {
      await this.request.cancel();
      await this.peer.settleSends();
    } else {
      await this.sendRaw('m.key.verification.cancel', { code, reason });
    }
  }

  /**
   * Sends a verification event of this flow as is, past the SDK: to-device (unencrypted, with
   * transaction_id) or into the room (in the clear, with the m.reference to the request), as the
   * flow goes. For hostile-peer tests.
   */
  async sendRaw(type: string, content: Record<string, unknown>): Promise<void> {
    if (this.roomId) {
      await this.peer.sendRawRoomEvent(this.roomId, type, { ...content, 'm.relates_to': { rel_type: 'm.reference', event_id: this.flowId } });
    } else {
      await this.peer.sendRawToDevice(this.otherUserId, this.otherDeviceId ?? '*', type, { ...content, transaction_id: this.flowId });
    }
  }

  /** Waits until the flow is in `phase` (e.g. 'started' once the other side sent start); throws at once if it is cancelled. */
  async waitForPhase(phase: Exclude<VerificationPhaseName, 'cancelled'>, timeoutMs = 10_000): Promise<void> {
    await this.waitFor(`phase ${phase}`, () => (this.phase === phase ? true : undefined), timeoutMs);
  }

  /** Waits until the flow is done (both sides sent m.key.verification.done); throws at once if it is cancelled. */
  waitForDone(timeoutMs = 10_000): Promise<void> {
    return this.waitForPhase('done', timeoutMs);
  }

  /** Waits until the flow is cancelled, by either side; throws if it is done instead. */
  async waitForCancel(timeoutMs = 10_000): Promise<PeerCancel> {
    return pollFor(
      () => {
        if (this.phase === 'done') throw new Error(`${this.describe()}: done, not cancelled`);
        return this.cancelInfo();
      },
      timeoutMs,
      () => `${this.describe()}: not cancelled after ${timeoutMs} ms`,
    );
  }

  /** The cancel, once the flow is cancelled. */
  cancelInfo(): PeerCancel | undefined {
    if (this.phase !== 'cancelled') return undefined;
    const info = (this.request as unknown as WithRustRequest).inner?.cancelInfo ?? (this.verifying as unknown as WithRustSas | undefined)?.inner?.cancelInfo?.();
    if (info) return { code: info.cancelCode(), reason: info.reason(), byUs: info.cancelledbyUs() };
    return { code: this.request.cancellationCode ?? '', reason: '', byUs: this.request.cancellingUserId === this.peer.userId };
  }

  /** Element's panel: once a method is chosen (start sent or received), go on with it. */
  private goOnWithSas(): void {
    const verifier = this.request.verifier;
    if (!verifier || verifier === this.verifying) return;
    this.verifying = verifier;
    // Sends accept to another's start; resolves when done, rejects when cancelled (cancelInfo() says how).
    verifier.verify().then(
      () => (this.verified = true),
      () => undefined,
    );
  }

  private sasCallbacks(timeoutMs: number): Promise<ShowSasCallbacks> {
    return this.waitFor('the SAS', () => this.verifying?.getShowSasCallbacks() ?? undefined, timeoutMs);
  }

  /** Polls for `check`; a cancel ends the wait at once, with its code and reason. */
  private waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return pollFor(
      () => {
        const value = check();
        if (value !== undefined) return value;
        const cancel = this.cancelInfo();
        if (cancel) throw new Error(`${this.describe()}: cancelled ${cancel.byUs ? 'by the peer' : 'by the other side'} with ${cancel.code} (${cancel.reason}) while waiting for ${what}`);
        return undefined;
      },
      timeoutMs,
      () => `${this.describe()}: no ${what} after ${timeoutMs} ms (phase ${this.phase})`,
    );
  }

  private describe(): string {
    const other = `${this.otherUserId}${this.otherDeviceId ? `/${this.otherDeviceId}` : ''}`;
    return `peer ${this.peer.userId}/${this.peer.deviceId}: verification ${this.flowId || '(no ID yet)'} with ${other}${this.roomId ? ` in ${this.roomId}` : ''}`;
  }
}
