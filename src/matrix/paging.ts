/**
 * How the spec's paged lists continue (`mx api --paginate`): an answer names the next page with
 * `next_batch` (public rooms, room hierarchy, relations, threads), `end` (room messages) or
 * `next_token` (notifications, Synapse's admin API), and the next request passes it back as
 * `since` (public rooms) or `from` (the others).
 */

/** The token of the page after `answer`, or undefined when it is the last. */
export function nextPageToken(answer: unknown, previous: string | undefined): string | undefined {
  if (!answer || typeof answer !== 'object' || Array.isArray(answer)) return undefined;
  const page = answer as Record<string, unknown>;
  const token = [page.next_batch, page.end, page.next_token].find((t): t is string => typeof t === 'string' && t !== '');
  // A page that brought nothing ends the list, whatever token it carries (the spec's /messages
  // can answer an empty chunk with an `end` that leads nowhere new).
  const items = Object.values(page).find(Array.isArray);
  if (token === undefined || token === previous || (items !== undefined && items.length === 0)) return undefined;
  return token;
}

/** The parameter a path takes the token back in. */
export function pageTokenParameter(path: string): string {
  return /\/publicRooms$/.test(path.split('?')[0]!) ? 'since' : 'from';
}

/** Paths whose tokens never end (a sync stream is followed with mx tail, not paged). */
export function isEndlessStream(path: string): boolean {
  return /\/sync$/.test(path.split('?')[0]!);
}
