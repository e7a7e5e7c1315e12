/**
 * `mx send ROOM [TEXT]`: one message (or any event) to a room, printed as its event ID.
 * Never syncs and never touches a profile's stream positions: a send only sends.
 */
import type { Context } from '../../context.js';
import type { Session } from '../../session.js';
import { UsageError } from '../../errors.js';
import { parseEventId, parseEventType, parseRoomRef, parseUserId } from '../../matrix/identifiers.js';
import { readJsonData, readStdin } from '../../input.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL, SHARE_KEYS_OPTION } from '../options.js';
import { shareKeysWith, type ShareKeysWith } from '../../share-keys-with.js';
import {
  checkContentSize, isBlank, jsonContent, loadMarkdown, locationContent, parseMsgtype, textContent, type Content, type TextOptions,
} from '../../messages/content.js';
import type { RoomEncryption, RoomSender, Sent, Target } from '../../messages/deliver.js';
import { directRoomWith } from '../../messages/direct.js';
import { fileContent, largestFileContent, readLocalFile, sourceUri, uploadFile } from '../../messages/file.js';
import { sendLines } from '../../messages/lines.js';
import { planRelation, withRelation, type RelationFlags } from '../../messages/relations.js';
import { newTxnId, parseTxnId } from '../../messages/txn.js';
import { sessionSender } from './session-sender.js';

/** The arguments after validation: types, txn ID and msgtype checked. */
interface SendOptions extends SendArgs {
  eventType: string;
  /** --txn-id; without it each run makes a fresh one. */
  txnId: string | undefined;
  msgtype: string | undefined;
  /** --reply-to, --thread, --edit, --mention: undefined when none is given. */
  relation: RelationFlags | undefined;
}

export interface SendArgs {
  room: string;
  text?: string;
  notice?: boolean;
  emote?: boolean;
  msgtype?: string;
  html?: string;
  markdown?: boolean;
  json?: string;
  type?: string;
  stateKey?: string;
  file?: string;
  location?: string;
  lines?: boolean;
  txnId?: string;
  replyTo?: string;
  thread?: string;
  edit?: string;
  mention?: string[];
  mentionRoom?: boolean;
  shareKeysWith?: string;
}

export const sendCommand = defineCommand({
  command: 'send <room> [text]',
  describe: 'Send a message (or any event) to a room and print its event ID',
  builder: (y) =>
    y
      .positional('room', { ...ROOM_POSITIONAL, describe: `${ROOM_POSITIONAL.describe}, or a user ID (@bob:example.org) for your direct chat with them` })
      .positional('text', { type: 'string', describe: 'the message; - reads all of stdin as one message' })
      // Without this, yargs re-parses a positional "-" as a flag and hands over "".
      .nargs('text', 1)
      .option('notice', { type: 'boolean', describe: 'send an m.notice (what bots send)' })
      .option('emote', { type: 'boolean', describe: 'send an m.emote (like /me)' })
      .option('msgtype', { type: 'string', nargs: 1, describe: 'another msgtype (default m.text; with --file, overrides the one from the MIME type)' })
      .option('html', { type: 'string', nargs: 1, describe: 'HTML formatted body; the plain body is TEXT, else the HTML without tags' })
      .option('markdown', { type: 'boolean', describe: 'render TEXT as Markdown into the formatted body (the plain body stays TEXT)' })
      .option('json', { type: 'string', nargs: 1, describe: 'the whole event content, a JSON object: inline, @file, or - for stdin' })
      .option('type', { type: 'string', nargs: 1, describe: 'event type (default m.room.message)' })
      .option('state-key', { type: 'string', nargs: 1, describe: "send a state event with this key (needs --type and --json; '' is the empty key)" })
      .option('file', { type: 'string', nargs: 1, describe: 'upload a file and send it as m.image/m.audio/m.video/m.file (by MIME type); TEXT is a caption' })
      .option('location', { type: 'string', nargs: 1, describe: 'send an m.location: geo:LAT,LON[;u=METRES]; TEXT describes it' })
      .option('lines', { type: 'boolean', describe: 'send each line of stdin as its own message, in order; blank lines are skipped' })
      .option('txn-id', {
        type: 'string', nargs: 1,
        describe: 'transaction ID (A-Z a-z 0-9 . _ ~ -): re-running with the same ID does not send twice; with --lines, line N uses ID-N',
      })
      .option('reply-to', { type: 'string', nargs: 1, describe: 'a rich reply to this event ($event ID); in a thread, the reply stays in it' })
      .option('thread', { type: 'string', nargs: 1, describe: 'a message in the thread of this root event (with --lines: every line)' })
      .option('edit', { type: 'string', nargs: 1, describe: 'replace the text of this message of yours (an edit)' })
      .option('mention', { type: 'string', array: true, nargs: 1, describe: 'mention this user (repeatable): notifies them, and a pill in the HTML' })
      .option('mention-room', { type: 'boolean', describe: 'mention the whole room (@room), as far as your power level lets you' })
      .option('share-keys-with', SHARE_KEYS_OPTION)
      .conflicts('notice', ['emote', 'msgtype'])
      .conflicts('emote', 'msgtype')
      .conflicts('html', 'markdown')
      .conflicts('json', ['notice', 'emote', 'msgtype', 'html', 'markdown', 'file', 'location', 'lines'])
      .conflicts('file', ['notice', 'emote', 'html', 'markdown', 'location', 'lines', 'state-key'])
      .conflicts('location', ['notice', 'emote', 'msgtype', 'html', 'markdown', 'lines', 'state-key'])
      .conflicts('lines', ['html', 'state-key'])
      .conflicts('state-key', ['txn-id', 'reply-to', 'thread', 'edit', 'mention', 'mention-room'])
      .conflicts('edit', ['reply-to', 'thread', 'file', 'location', 'lines'])
      .conflicts('lines', 'reply-to')
      .implies('state-key', ['type', 'json'])
      .example('mx send "#ops:example.org" "deploy finished"', '')
      .example('mx send ROOM "**done**" --markdown --notice', '')
      .example('journalctl -f -o cat | mx send ROOM --lines', 'one message per line')
      .example('mx send ROOM --file report.pdf "this week"', 'upload, with a caption')
      .example("mx send ROOM --type m.room.topic --state-key '' --json '{\"topic\":\"hi\"}'", '')
      .example('mx send ROOM "once" --txn-id nightly-2024-06-01', 'safe to re-run'),
  validate(rawArgs): SendOptions {
    const args = { ...rawArgs, text: textArgument(rawArgs) };
    checkTextArgument(args);
    if (args.room.startsWith('@')) {
      parseUserId(args.room);
      if (args.stateKey !== undefined) throw new UsageError('a state event goes to a room, not to a user');
    } else {
      parseRoomRef(args.room);
    }
    return {
      ...args,
      eventType: args.type !== undefined ? parseEventType(args.type) : 'm.room.message',
      txnId: args.txnId !== undefined ? parseTxnId(args.txnId) : undefined,
      msgtype: args.msgtype !== undefined ? parseMsgtype(args.msgtype) : undefined,
      relation: relationFlags(args),
    };
  },
  async run(ctx, args) {
    const { eventType, msgtype } = args;
    const txnId = args.txnId ?? newTxnId(ctx.io.now());
    const shareWith = shareKeysWith(args.shareKeysWith, ctx.io.env, ctx.config);
    if (args.lines) return sendLinesCommand(ctx, args, txnId, shareWith);

    // Everything local first: bad input fails before any request.
    const file = args.file !== undefined ? await readLocalFile(ctx.io.cwd, args.file) : undefined;
    const text = args.text === '-' ? trimFinalNewline(await readStdin(ctx.io)) : args.text;
    let content: Content;
    if (file) {
      if (text !== undefined && isBlank(text)) throw new UsageError('empty caption: give a caption as TEXT, or no TEXT');
      // The mxc:// URI is not known before the upload; a long stand-in checks the size.
      checkContentSize(largestFileContent(file, msgtype, text));
    } else {
      content = await buildContent(ctx, args, text, msgtype);
      checkContentSize(content);
    }

    const session = await ctx.session();
    const sender = await roomSender(ctx, session, args.room, { eventType, stateKey: args.stateKey }, shareWith);
    // The related events are looked up (and checked) before anything is uploaded or sent.
    const plan = args.relation && (await planRelation(session.client, sender.target.roomId, (await session.whoAmI()).userId, args.relation));
    let contentUri: string | undefined;
    let encryption: RoomEncryption;
    if (file) {
      // Before the upload: a file for an encrypted room is encrypted first, never uploaded in clear.
      encryption = await sender.encryption();
      // mx can encrypt here, and share the key as told, or nothing is uploaded.
      if (encryption) await (await sender.cryptoSession()).checkCanShare(sender.target.roomId, shareWith);
      const source = await uploadFile(session.client, file, Boolean(encryption));
      contentUri = sourceUri(source);
      content = fileContent(file, source, msgtype, text);
    }
    if (plan) {
      content = withRelation(content!, plan);
      checkContentSize(content);
    }
    const sent: Sent & { content_uri?: string } = await sender.send(content!, txnId, encryption);
    if (contentUri) sent.content_uri = contentUri;
    await ctx.out.print(sent, { text: (r) => r.event_id });
  },
});

/**
 * TEXT, also after `--` (`mx send ROOM -- "-5 degrees"`): yargs leaves a word that looks like
 * a flag in `_` then, after the command's own name.
 */
function textArgument(args: { text?: string; _: (string | number)[] }): string | undefined {
  const rest = args._.slice(1).map(String);
  if (rest.length > 1 || (rest.length === 1 && args.text !== undefined)) {
    throw new UsageError('give one TEXT (quote it if it has spaces)');
  }
  return args.text ?? rest[0];
}

/** TEXT is optional or not allowed, depending on the other flags. */
function checkTextArgument(args: SendArgs): void {
  const { text } = args;
  if (args.lines && text !== undefined && text !== '-') {
    throw new UsageError('--lines reads the messages from stdin: give no TEXT (or -)');
  }
  if (args.json !== undefined && text !== undefined) throw new UsageError('--json is the whole content: give no TEXT with it');
  const needsText = !args.lines && args.json === undefined && args.file === undefined && args.location === undefined && args.html === undefined;
  if (needsText && text === undefined) {
    throw new UsageError('give the TEXT to send (- reads stdin), or --json, --file, --location or --lines');
  }
}

/** The content of a single message from the flags (not --file, which needs the upload first). */
async function buildContent(ctx: Context, args: SendArgs, text: string | undefined, msgtype: string | undefined): Promise<Content> {
  if (args.json !== undefined) return jsonContent(await readJsonData(ctx.io, args.json, '--json'), '--json');
  if (args.location !== undefined) return locationContent(args.location, text);
  return textContent(text, await textOptions(args, msgtype));
}

async function textOptions(args: SendArgs, msgtype: string | undefined): Promise<TextOptions> {
  return {
    msgtype: args.notice ? 'm.notice' : args.emote ? 'm.emote' : (msgtype ?? 'm.text'),
    html: args.html,
    markdown: args.markdown ? await loadMarkdown() : undefined,
  };
}

async function sendLinesCommand(ctx: Context, args: SendOptions, txnBase: string, shareWith: ShareKeysWith): Promise<void> {
  const options = await textOptions(args, args.msgtype);
  const session = await ctx.session();
  const sender = await roomSender(ctx, session, args.room, { eventType: args.eventType }, shareWith);
  const plan = args.relation && (await planRelation(session.client, sender.target.roomId, (await session.whoAmI()).userId, args.relation));
  await sendLines({
    io: ctx.io,
    sender,
    txnBase,
    build: (line) => textContent(line, options),
    // In a thread, each line's fallback reply is the line before.
    relate: plan ? (content, previous) => withRelation(content, plan, previous) : undefined,
    // One line per message, as soon as the server has it: an event ID, or NDJSON.
    onSent: (sent) => ctx.out.item(sent, (r) => r.event_id),
  });
}

/**
 * Sends to ROOM: a room ID, an alias (resolved), or a user ID (the direct chat with that user,
 * made when there is none), encrypting where the room is encrypted.
 */
async function roomSender(ctx: Context, session: Session, room: string, target: Omit<Target, 'roomId'>, shareWith: ShareKeysWith): Promise<RoomSender> {
  let roomId: string;
  if (room.startsWith('@')) {
    const direct = await directRoomWith(session.client, (await session.whoAmI()).userId, room);
    if (direct.created) ctx.out.notice(`started a direct chat with ${room}: ${direct.roomId}`, { room_id: direct.roomId });
    roomId = direct.roomId;
  } else {
    roomId = await resolveRoom(session.client, room);
  }
  return sessionSender(ctx, session, { ...target, roomId }, shareWith);
}

/** `echo text | mx send ROOM -`: the line break echo adds is not part of the message. */
function trimFinalNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** The relation flags, their event IDs checked; undefined when none is given. */
function relationFlags(args: SendArgs): RelationFlags | undefined {
  const mentions = [...new Set(args.mention ?? [])];
  for (const user of mentions) parseUserId(user);
  if (args.replyTo === undefined && args.thread === undefined && args.edit === undefined && mentions.length === 0 && !args.mentionRoom) return undefined;
  return {
    replyTo: args.replyTo === undefined ? undefined : parseEventId(args.replyTo, '--reply-to'),
    thread: args.thread === undefined ? undefined : parseEventId(args.thread, '--thread'),
    edit: args.edit === undefined ? undefined : parseEventId(args.edit, '--edit'),
    mentions,
    mentionRoom: Boolean(args.mentionRoom),
  };
}
