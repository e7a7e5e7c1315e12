/**
 * The numbers flags, variables and config settings take: whole numbers (counts, limits,
 * milliseconds) and durations in seconds, checked in one way with one wording. Each gives back
 * undefined for a value not given, and a usage error (exit 2) naming where a bad one came from.
 */
import { UsageError } from './errors.js';

interface Bounds {
  min: number;
  max?: number;
  /** What is counted, for the message ("milliseconds"). */
  unit?: string;
}

function range({ min, max }: Bounds): string {
  return max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
}

/** A whole number within `bounds`; `source` names where it came from (--limit, MX_RETRIES). */
export function wholeNumber(value: number | undefined, source: string, bounds: Bounds): number | undefined {
  if (value === undefined) return undefined;
  if (Number.isInteger(value) && value >= bounds.min && value <= (bounds.max ?? Infinity)) return value;
  throw new UsageError(`${source} must be a whole number${bounds.unit ? ` of ${bounds.unit}` : ''} ${range(bounds)}`);
}

/**
 * A duration in seconds (fractions allowed) within `bounds`, as milliseconds; `above: true`
 * refuses the minimum itself. `note` says what a value means when it is not plain (0: no limit).
 */
export function seconds(value: number | undefined, source: string, bounds: { min: number; max?: number; above?: boolean; note?: string }): number | undefined {
  if (value === undefined) return undefined;
  const { min, max = Infinity, above = false, note } = bounds;
  if (Number.isFinite(value) && (above ? value > min : value >= min) && value <= max) return Math.round(value * 1000);
  const limits = above ? `above ${min}` : max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`;
  throw new UsageError(`${source} must be a number of seconds ${limits}${note ? ` (${note})` : ''}, not ${value}`);
}
