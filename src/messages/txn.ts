/**
 * Transaction IDs for sends. The spec's PUT /send/{type}/{txnId} lets the server recognise a
 * repeated request: the same access token (Synapse: the same device) with the same txn ID
 * gets the first event's ID back instead of a second event. So the ID is fixed before the
 * first attempt, and every retry (http.ts retries idempotent PUTs) reuses it.
 */
import { UsageError } from '../errors.js';
import { printable } from '../matrix/identifiers.js';

/** URL-safe characters only (RFC 3986 "unreserved"), so the ID is the same on the wire. */
const TXN_ID = /^[A-Za-z0-9._~-]+$/;
const MAX_TXN_ID_LENGTH = 100;

/** Checks a user-given --txn-id. */
export function parseTxnId(value: string): string {
  if (!value || value.length > MAX_TXN_ID_LENGTH || !TXN_ID.test(value)) {
    throw new UsageError(
      `invalid --txn-id "${printable(value)}": use 1 to ${MAX_TXN_ID_LENGTH} of the characters A-Z a-z 0-9 . _ ~ -`,
    );
  }
  return value;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A fresh, unique ID: `mx`, the time in base 36, then 48 random bits. It must be unique, not
 * secret (it is part of the URL): Math.random, which V8 seeds per process from the operating
 * system's entropy, is enough, and spares every send loading node:crypto.
 */
export function newTxnId(now: number): string {
  let random = '';
  for (let i = 0; i < 8; i++) random += BASE64URL[Math.floor(Math.random() * 64)];
  return `mx${now.toString(36)}${random}`;
}

/** The ID of line `n` (1-based, counting skipped lines) of a --lines run: `BASE-n`. */
export function lineTxnId(base: string, n: number): string {
  return `${base}-${n}`;
}
