/**
 * What every `mx verify` does around its flow: the fork of the engine, the link that brings its
 * messages, the flow itself, and its end: the result applied and checked, or the cancel's exit
 * code.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import type { Context } from '../../context.js';
import { EngineFork, type SendRoomMessage } from '../../crypto/verification/fork.js';
import { VerificationFlow } from '../../crypto/verification/flow.js';
import { VerificationLink } from '../../crypto/verification/link.js';
import { settleVerification } from '../../crypto/verification/result.js';
import type { CryptoSession } from '../../crypto/session.js';
import { ExitCode, MxError, type ExitCodeValue } from '../../errors.js';
import type { MatrixClient } from '../../matrix/http.js';
import { sendMessage } from '../../matrix/events.js';
import type { Session } from '../../session.js';
import { flowSides, stepText } from './present.js';

export interface VerifyPlan {
  /** Rooms whose events may carry the verification ('all' while a request is awaited), and how far back to look. */
  rooms: string[] | 'all';
  lookBack?: number;
  /** Whether this side accepts the request (it came from the other side). */
  acceptIncoming: boolean;
  /** When the flow is given up (m.timeout). */
  deadline: number;
  expect?: string[];
  /** Makes or finds the request; undefined when none came in time. */
  begin(parts: { session: Session; crypto: CryptoSession; fork: EngineFork; link: VerificationLink; sendRoomMessage: SendRoomMessage }): Promise<Sdk.VerificationRequest | undefined>;
}

/** Runs a verification to its end; throws the cancel's MxError, returns the exit code otherwise. */
export async function runVerification(ctx: Context, plan: VerifyPlan): Promise<number> {
  const session = await ctx.session();
  const crypto = await ctx.crypto(session, { catchUp: true });
  // Ctrl-C does not stop this client's requests: the cancel that follows it must go out.
  const client: MatrixClient = { ...session.client, signal: undefined };
  // In a room, verification events go in clear, as Element sends them: they hold public keys,
  // commitments and MACs, nothing secret, and the other side must read them even while this
  // device is not cross-signed yet (Element does not decrypt what such a device encrypts).
  const sendRoomMessage: SendRoomMessage = async (roomId, eventType, txnId, content, signal) =>
    (await sendMessage(signal ? { ...client, signal } : client, roomId, eventType, txnId, content)).event_id;
  const fork = await EngineFork.open(crypto, client, sendRoomMessage, ctx.debug);
  try {
    const link = new VerificationLink(crypto, client, plan.rooms, ctx.io.now, plan.lookBack);
    const request = await plan.begin({ session, crypto, fork, link, sendRoomMessage });
    if (!request) {
      if (ctx.io.signal.aborted) return ExitCode.interrupted;
      throw new MxError('no verification request came in time', ExitCode.verificationTimeout);
    }
    const sides = flowSides(ctx, plan.expect);
    const flow = new VerificationFlow(fork, link, request, sides, { folder: crypto.ref.folder, deadline: plan.deadline, acceptIncoming: plan.acceptIncoming });
    const end = await flow.run();
    if (end.kind === 'interrupted') return ExitCode.interrupted;
    if (end.kind === 'cancelled') {
      const by = end.by === 'us' ? 'this side' : 'the other side';
      throw new MxError(`the verification was cancelled by ${by}: ${end.reason} (${end.code}); nothing was verified`, cancelExitCode(end.code), { cancel_code: end.code, by: end.by });
    }
    const done = await settleVerification(crypto, fork, end.request, end.otherDeviceId, {
      pump: async () => void (await link.pump(1_000)),
      now: ctx.io.now,
      onProgress: (line) => ctx.out.notice(line),
    });
    await ctx.out.item(done, stepText);
    const verified = done.this_device_cross_signed ?? (done.identity_verified || done.device_verified);
    if (!verified) throw new MxError('the verification finished, but the server does not show the result: nothing is verified yet', ExitCode.failure);
    return ExitCode.ok;
  } finally {
    fork.close();
  }
}

function cancelExitCode(code: string): ExitCodeValue {
  if (code === 'm.mismatched_sas' || code === 'm.key_mismatch' || code === 'm.mismatched_commitment') return ExitCode.verificationMismatch;
  if (code === 'm.timeout') return ExitCode.verificationTimeout;
  return ExitCode.verificationCancelled;
}
