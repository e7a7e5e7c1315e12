/**
 * What a message says about other events and people (spec: "Rich replies", "Threading",
 * "Event replacements", "User and room mentions"): the `m.relates_to` of a reply, a thread
 * message or an edit, and the `m.mentions` (with pills in the HTML) that make clients notify.
 *
 * `planRelation` looks the related events up first (they must exist, an edit must be of one's
 * own message, a reply in a thread stays there); `withRelation` then puts the plan into each
 * message's content (for `--lines`, line by line: a thread's fallback reply points at the line
 * before).
 */
import { ExitCode, MxError, UsageError } from '../errors.js';
import { MatrixError } from '../matrix/errors.js';
import type { MatrixClient } from '../matrix/http.js';
import { getRelatedEvents, getRoomEvent, getRoomStateWithKey, type ClientEvent } from '../matrix/rooms.js';
import { HTML_FORMAT, type Content } from './content.js';

export interface RelationFlags {
  replyTo?: string;
  thread?: string;
  edit?: string;
  mentions: string[];
  mentionRoom: boolean;
}

/** What the flags resolved to, against the room's events. */
export interface RelationPlan {
  /** A thread message: the thread's root, and the event its fallback reply points at. */
  thread?: { root: string; latest: string };
  /** A rich reply to this event (in the thread, when there is one). */
  replyTo?: string;
  /** An edit of this (original) event. */
  replaces?: string;
  /** Users to mention (--mention): in m.mentions, and as a pill in the text when it does not name them. */
  mentions: { userId: string; name: string }[];
  /** Users m.mentions lists without a pill: the sender of the event replied to, as the spec asks. */
  notified: string[];
  mentionRoom: boolean;
}

const THREAD = 'm.thread';
const REPLACE = 'm.replace';

/** The flags' events looked up and checked; the user's own ID decides what is theirs to edit. */
export async function planRelation(client: MatrixClient, roomId: string, me: string, flags: RelationFlags): Promise<RelationPlan> {
  const event = (id: string, why: string) => relatedEvent(client, roomId, id, why);
  const plan: RelationPlan = { mentions: [], notified: [], mentionRoom: flags.mentionRoom };
  if (flags.edit !== undefined) {
    let original = await event(flags.edit, 'edit');
    // Edits replace the original event, never an edit of it.
    const relation = relatesTo(original);
    if (relation?.rel_type === REPLACE && typeof relation.event_id === 'string') original = await event(relation.event_id, 'edit');
    if (original.sender !== me) throw new UsageError(`${original.event_id} was sent by ${original.sender}: only its sender can edit it`);
    if (original.state_key !== undefined) throw new UsageError(`${original.event_id} is a state event (${original.type}): it cannot be edited`);
    plan.replaces = original.event_id;
  }
  if (flags.thread !== undefined) {
    const root = await event(flags.thread, 'thread');
    const inThread = relatesTo(root);
    if (inThread?.rel_type === THREAD) throw new UsageError(`${root.event_id} is in the thread of ${String(inThread.event_id)}: give that root event`);
    const [latest] = await getRelatedEvents(client, roomId, root.event_id, THREAD, 1);
    plan.thread = { root: root.event_id, latest: latest?.event_id ?? root.event_id };
  }
  if (flags.replyTo !== undefined) {
    const parent = await event(flags.replyTo, 'reply to');
    const parentThread = relatesTo(parent)?.rel_type === THREAD ? String(relatesTo(parent)!.event_id) : undefined;
    if (plan.thread && parentThread !== undefined && parentThread !== plan.thread.root) {
      throw new UsageError(`${parent.event_id} is in another thread (${parentThread}) than --thread ${plan.thread.root}`);
    }
    // A reply to a thread message stays in its thread.
    if (parentThread !== undefined && !plan.thread) plan.thread = { root: parentThread, latest: parent.event_id };
    plan.replyTo = parent.event_id;
    // The spec: a reply mentions the sender of what it replies to.
    if (parent.sender !== me && !flags.mentions.includes(parent.sender)) plan.notified.push(parent.sender);
  }
  plan.mentions = await Promise.all(flags.mentions.map(async (userId) => ({ userId, name: await displayName(client, roomId, userId) })));
  return plan;
}

/** The content with the plan's relation and mentions; `previous` is the last message sent in this run (--lines in a thread). */
export function withRelation(content: Content, plan: RelationPlan, previous?: string): Content {
  if (content['m.relates_to'] !== undefined && (plan.thread || plan.replyTo || plan.replaces)) {
    throw new UsageError('the content has an m.relates_to of its own: give no --reply-to, --thread or --edit with it');
  }
  const mentioned = withMentions(content, plan);
  if (plan.replaces) return editContent(mentioned, plan.replaces);
  const relation = relationOf(plan, previous);
  return relation ? { ...mentioned, 'm.relates_to': relation } : mentioned;
}

function relationOf(plan: RelationPlan, previous: string | undefined): Record<string, unknown> | undefined {
  if (plan.thread) {
    // is_falling_back: the reply is only there for clients without threads, pointing at the
    // thread's latest message; a real reply (--reply-to) is not a fallback.
    const reply = plan.replyTo ?? previous ?? plan.thread.latest;
    return { rel_type: THREAD, event_id: plan.thread.root, is_falling_back: plan.replyTo === undefined, 'm.in_reply_to': { event_id: reply } };
  }
  return plan.replyTo ? { 'm.in_reply_to': { event_id: plan.replyTo } } : undefined;
}

/** m.mentions, and for each mention missing from the text a "Name: " prefix, as a pill in the HTML. */
function withMentions(content: Content, plan: RelationPlan): Content {
  const users = [...plan.mentions.map((m) => m.userId), ...plan.notified];
  if (users.length === 0 && !plan.mentionRoom) return content;
  const mentions = { ...(users.length ? { user_ids: users } : {}), ...(plan.mentionRoom ? { room: true } : {}) };
  if (typeof content.body !== 'string' || (plan.mentions.length === 0 && !plan.mentionRoom)) return { ...content, 'm.mentions': mentions };
  const body = content.body;
  const missing = plan.mentions.filter((m) => !body.includes(m.userId) && !body.includes(m.name));
  const prefix = [...missing.map((m) => m.name), ...(plan.mentionRoom && !body.includes('@room') ? ['@room'] : [])];
  const htmlPrefix = [...missing.map(pill), ...(plan.mentionRoom && !body.includes('@room') ? ['@room'] : [])];
  const html = content.format === HTML_FORMAT && typeof content.formatted_body === 'string'
    ? content.formatted_body
    : linkified(escapeHtml(body).replace(/\n/g, '<br>'), plan.mentions);
  return {
    ...content,
    body: prefix.length ? `${prefix.join(', ')}: ${body}` : body,
    format: HTML_FORMAT,
    formatted_body: htmlPrefix.length ? `${htmlPrefix.join(', ')}: ${html}` : html,
    'm.mentions': mentions,
  };
}

/** An edit: the new content under m.new_content, and a "* " fallback for clients without edits. */
function editContent(content: Content, original: string): Content {
  const fallback: Content = { ...content };
  if (typeof content.body === 'string') fallback.body = `* ${content.body}`;
  if (typeof content.formatted_body === 'string') fallback.formatted_body = `* ${content.formatted_body}`;
  return { ...fallback, 'm.new_content': content, 'm.relates_to': { rel_type: REPLACE, event_id: original } };
}

/** A user's pill: a matrix.to link with their name, as Element writes it. */
function pill(mention: { userId: string; name: string }): string {
  return `<a href="https://matrix.to/#/${mention.userId}">${escapeHtml(mention.name)}</a>`;
}

/** User IDs written in the (escaped) text become pills. */
function linkified(html: string, mentions: RelationPlan['mentions']): string {
  let out = html;
  for (const mention of mentions) out = out.split(escapeHtml(mention.userId)).join(pill({ userId: mention.userId, name: mention.userId }));
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function relatesTo(event: ClientEvent): Record<string, unknown> | undefined {
  const relation = event.content['m.relates_to'];
  return relation && typeof relation === 'object' ? (relation as Record<string, unknown>) : undefined;
}

/** The event, or a clear error when it does not exist (or cannot be seen), or was redacted (unless `allowRedacted`). */
export async function relatedEvent(client: MatrixClient, roomId: string, eventId: string, why: string, { allowRedacted = false } = {}): Promise<ClientEvent> {
  let event: ClientEvent;
  try {
    event = await getRoomEvent(client, roomId, eventId);
  } catch (error) {
    if (error instanceof MatrixError && (error.status === 404 || error.errcode === 'M_NOT_FOUND')) {
      throw new MxError(`cannot ${why} ${eventId}: there is no such event in ${roomId} (or you cannot see it)`, ExitCode.notFound);
    }
    throw error;
  }
  if (!allowRedacted && event.unsigned?.redacted_because !== undefined) throw new UsageError(`cannot ${why} ${eventId}: it was redacted`);
  return event;
}

/** The user's display name in the room, else their user ID. */
async function displayName(client: MatrixClient, roomId: string, userId: string): Promise<string> {
  const member = await getRoomStateWithKey(client, roomId, 'm.room.member', userId).catch(() => undefined);
  return typeof member?.displayname === 'string' && member.displayname.trim() ? member.displayname : userId;
}
