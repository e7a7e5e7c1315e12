/** Sending one built event: a message (PUT with a transaction ID) or a state event. */
import { ExitCode, MxError } from '../errors.js';
import { MatrixError } from '../matrix/errors.js';
import { sendMessage, setRoomStateWithKey } from '../matrix/events.js';
import type { MatrixClient } from '../matrix/http.js';
import { getRoomEncryption } from '../matrix/rooms.js';
import { MAX_EVENT_BYTES, type Content } from './content.js';

export interface Target {
  roomId: string;
  eventType: string;
  /** Set for a state event (PUT /state/{type}/{key}); such sends have no transaction ID. */
  stateKey?: string;
}

/** What send prints: the API's own names. txn_id only for message events. */
export interface Sent {
  event_id: string;
  room_id: string;
  txn_id?: string;
}

/**
 * Sends the event. `txnId` must be fixed before the first attempt: matrixRequest retries the
 * same PUT (same path, so the same txn ID) after a network error, a 5xx or a 429, and the
 * server answers a repeat with the first event's ID instead of a second event.
 *
 * A message event never goes into an encrypted room in clear text: the room's state is asked
 * before every send (a room can be switched to encrypted at any time, also during a long
 * `--lines` run). State events are never encrypted (the spec says so).
 */
export async function deliver(client: MatrixClient, target: Target, content: Content, txnId: string): Promise<Sent> {
  const { roomId, eventType, stateKey } = target;
  try {
    if (stateKey !== undefined) {
      const { event_id } = await setRoomStateWithKey(client, roomId, eventType, stateKey, content);
      return { event_id, room_id: roomId };
    }
    await refuseEncryptedRoom(client, roomId);
    const { event_id } = await sendMessage(client, roomId, eventType, txnId, content);
    return { event_id, room_id: roomId, txn_id: txnId };
  } catch (error) {
    if (error instanceof MatrixError && (error.errcode === 'M_TOO_LARGE' || error.status === 413)) {
      throw new MxError(
        `send to ${roomId}: the server refused the event as too large (M_TOO_LARGE); a whole event, ` +
          `envelope included, may be at most ${MAX_EVENT_BYTES} bytes: shorten it or send it as a file with --file`,
        ExitCode.usage,
        error.details,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Asks the room's state now and refuses an encrypted room (exit code 9) before anything of the
 * message leaves mx: a file too is checked before its upload.
 */
export async function refuseEncryptedRoom(client: MatrixClient, roomId: string): Promise<void> {
  if (await getRoomEncryption(client, roomId)) {
    throw new MxError(
      `${roomId} is an encrypted room and mx cannot encrypt messages yet: nothing was sent (mx never sends clear text there)`,
      ExitCode.encryption,
    );
  }
}
