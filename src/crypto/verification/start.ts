/**
 * How a verification begins in the fork: this side asks (its own other devices, another user in
 * their direct chat, or one device), or takes a request that came (`mx verify accept`).
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { isRecord } from '../../matrix/shape.js';
import type { EngineFork, SendRoomMessage } from './fork.js';
import { REQUEST_LIFETIME_MS, runningFlows, type VerificationToDevice } from './inbox.js';
import { isRoomRequest, type RoomVerificationEvent, type VerificationLink } from './link.js';

const SAS = 'm.sas.v1';

function sasOnly(fork: EngineFork): Sdk.VerificationMethod[] {
  return [fork.sdk.VerificationMethod.SasV1];
}

/** One device of a user, known to the engine after a keys query; not found is exit 5. */
async function knownDevice(fork: EngineFork, userId: string, deviceId: string): Promise<Sdk.Device> {
  const { sdk, machine } = fork;
  await fork.queryKeys([userId]);
  const device = await machine.getDevice(new sdk.UserId(userId), new sdk.DeviceId(deviceId));
  if (!device) {
    const known = (await machine.getUserDevices(new sdk.UserId(userId))).devices().map((d) => d.deviceId.toString());
    throw new MxError(
      `${userId} has no device ${deviceId} with encryption keys${known.length ? ` (their devices: ${known.join(', ')})` : ''}`,
      ExitCode.notFound,
    );
  }
  return device;
}

/** This device asks the account's other devices (or `deviceId`) to verify it, to-device. */
export async function requestOwnVerification(fork: EngineFork, ref: { userId: string; deviceId: string }, deviceId?: string): Promise<Sdk.VerificationRequest> {
  const { sdk, machine } = fork;
  if (deviceId === ref.deviceId) throw new UsageError(`${deviceId} is this device: --device names the other device to verify with`);
  if (deviceId) {
    const [request, outgoing] = (await knownDevice(fork, ref.userId, deviceId)).requestVerification(sasOnly(fork));
    await fork.sendOne(outgoing);
    return request;
  }
  await fork.queryKeys([ref.userId]);
  const others = (await machine.getUserDevices(new sdk.UserId(ref.userId))).devices().filter((d) => d.deviceId.toString() !== ref.deviceId);
  if (others.length === 0) {
    throw new MxError(`${ref.userId} has no other device with encryption keys to verify with (log in with Element first, or use mx crypto recover)`, ExitCode.notFound);
  }
  const identity = await machine.getIdentity(new sdk.UserId(ref.userId));
  if (!(identity instanceof sdk.OwnUserIdentity)) {
    throw new MxError(
      `${ref.userId} has no cross-signing: name the device to verify with (--device ID; devices: ${others.map((d) => d.deviceId.toString()).join(', ')}), or set it up with mx crypto setup`,
      ExitCode.encryption,
    );
  }
  const [request, outgoing] = await identity.requestVerification(sasOnly(fork));
  await fork.sendOne(outgoing);
  return request;
}

/**
 * This side asks `userId` to verify: one of their devices, to-device, with `deviceId`; else
 * their identity, in the direct chat (`directRoom` finds or makes it), as Element does.
 */
export async function requestUserVerification(
  fork: EngineFork,
  userId: string,
  options: { deviceId?: string; directRoom: () => Promise<string>; sendRoomMessage: SendRoomMessage; txnId: string },
): Promise<Sdk.VerificationRequest> {
  const { sdk, machine } = fork;
  if (options.deviceId) {
    const [request, outgoing] = (await knownDevice(fork, userId, options.deviceId)).requestVerification(sasOnly(fork));
    await fork.sendOne(outgoing);
    return request;
  }
  await fork.queryKeys([userId]);
  const identity = await machine.getIdentity(new sdk.UserId(userId));
  if (!(identity instanceof sdk.OtherUserIdentity)) {
    const devices = (await machine.getUserDevices(new sdk.UserId(userId))).devices().map((d) => d.deviceId.toString());
    if (devices.length === 0) throw new MxError(`${userId} has no device with encryption keys (no such user, or they never used encryption)`, ExitCode.notFound);
    throw new MxError(`${userId} has no cross-signing identity to verify: verify one of their devices with --device ID (${devices.join(', ')})`, ExitCode.encryption);
  }
  const own = await machine.crossSigningStatus();
  if (!own.hasUserSigning) {
    throw new MxError(
      "this device does not hold the account's user-signing key, which verifying another user takes: mx crypto recover (with the recovery key) or mx verify --self (with another device) gives it",
      ExitCode.encryption,
    );
  }
  const roomId = await options.directRoom();
  const content = JSON.parse(identity.verificationRequestContent(sasOnly(fork))) as Record<string, unknown>;
  const eventId = await options.sendRoomMessage(roomId, 'm.room.message', options.txnId, content);
  return identity.requestVerification(new sdk.RoomId(roomId), new sdk.EventId(eventId), sasOnly(fork));
}

/** A request that came, to-device or in a room, as `mx verify accept` sees it. */
interface Incoming {
  flowId: string;
  sender: string;
  at: number;
  toDevice?: VerificationToDevice;
  room?: RoomVerificationEvent;
}

/**
 * Waits for a request to this device or account (from `from` only, when given) that no other
 * process has taken, and gives it to the fork: the newest first. Undefined at the deadline.
 */
export async function awaitIncomingRequest(
  fork: EngineFork,
  link: VerificationLink,
  options: { ownUserId: string; from?: string; deadline: number; now: () => number; folder: string; interrupt: AbortSignal; debug?: (line: string) => void },
): Promise<Sdk.VerificationRequest | undefined> {
  const { sdk, machine } = fork;
  const ended = new Set<string>();
  const refused = new Set<string>();
  while (options.now() < options.deadline && !options.interrupt.aborted) {
    const arrivals = await link.pump(Math.min(5_000, Math.max(0, options.deadline - options.now())), options.interrupt);
    const incoming: Incoming[] = [];
    for (const event of arrivals.toDevice) {
      const { transaction_id: flowId, timestamp, methods } = event.content;
      if (typeof flowId !== 'string') continue;
      if (event.type === 'm.key.verification.cancel' || event.type === 'm.key.verification.done') ended.add(flowId);
      if (event.type === 'm.key.verification.request' && typeof timestamp === 'number' && Array.isArray(methods) && methods.includes(SAS)) {
        incoming.push({ flowId, sender: event.sender, at: timestamp, toDevice: event });
      }
    }
    for (const room of arrivals.roomEvents) {
      const { event } = room;
      const relates = isRecord(event.content['m.relates_to']) ? event.content['m.relates_to'].event_id : undefined;
      if (typeof relates === 'string' && (event.type === 'm.key.verification.cancel' || event.type === 'm.key.verification.done')) ended.add(relates);
      if (isRoomRequest(event) && event.content.to === options.ownUserId && event.sender !== options.ownUserId && typeof event.origin_server_ts === 'number') {
        incoming.push({ flowId: String(event.event_id), sender: String(event.sender), at: event.origin_server_ts, room });
      }
    }
    const taken = new Set(runningFlows(options.folder, options.now()).map((f) => f.flow_id));
    const wanted = incoming
      .filter((i) => !ended.has(i.flowId) && !taken.has(i.flowId) && !refused.has(i.flowId))
      .filter((i) => (options.from ? i.sender === options.from : true) && options.now() - i.at < REQUEST_LIFETIME_MS)
      .sort((a, b) => b.at - a.at);
    for (const candidate of wanted) {
      await fork.queryKeys([candidate.sender]);
      if (candidate.toDevice) await fork.receiveToDevice([candidate.toDevice]);
      if (candidate.room) await fork.receiveRoomEvent({ ...candidate.room.event, room_id: candidate.room.roomId }, candidate.room.roomId);
      const request = machine.getVerificationRequest(new sdk.UserId(candidate.sender), candidate.flowId);
      if (request && !request.isCancelled()) {
        link.watchOnly(candidate.room ? [candidate.room.roomId] : []);
        return request;
      }
      // The engine would not take it (a device it does not know, a request too old).
      options.debug?.(`verification: the request ${candidate.flowId} from ${candidate.sender} was not taken by the engine`);
      refused.add(candidate.flowId);
    }
  }
  return undefined;
}
