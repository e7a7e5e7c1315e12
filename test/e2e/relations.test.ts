// Replies, threads, edits, mentions, reactions, redactions and direct messages, read back from
// the server and checked against the spec's event shapes; in an encrypted room too, where the
// relation stays outside the ciphertext and matrix-js-sdk (as Element) reads it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, mxJson, parseJsonLines, registerUser, roomHistory, runMx, homeserverUrl, expectExit, type MxResult, type RegisteredUser, type RoomEvent } from './helpers.js';

type Sent = { event_id: string; room_id: string; encrypted?: boolean };
const byId = (events: RoomEvent[], id: string) => {
  const event = events.find((e) => e.event_id === id);
  if (!event) throw new Error(`event ${id} is not in the room's history`);
  return event;
};

/** Two users of mx in one plain room, each with their own profile in one config dir. */
async function twoInARoom(): Promise<{ alice: RegisteredUser; bob: RegisteredUser; roomId: string; as: (who: RegisteredUser, args: string[], input?: string) => Promise<Sent>; run: (who: RegisteredUser, args: string[], input?: string) => Promise<MxResult> }> {
  const alice = await registerUser();
  const bob = await registerUser({ configDir: alice.configDir });
  const run = (who: RegisteredUser, args: string[], input?: string) => runMx([...args, '-p', who.profile], { configDir: alice.configDir, input });
  const as = async (who: RegisteredUser, args: string[], input?: string) => {
    const r = await run(who, ['send', ...args], input);
    if (r.code !== 0) throw new Error(describeResult(['send', ...args], r));
    return JSON.parse(r.stdout) as Sent;
  };
  const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--invite', bob.userId, '-p', alice.profile], { configDir: alice.configDir });
  expect((await run(bob, ['join', roomId])).code).toBe(0);
  return { alice, bob, roomId, as, run };
}

describe('relations in a plain room', () => {
  it("replies, threads (with --lines), edits and mentions have the spec's shapes", async () => {
    const { alice, bob, roomId, as } = await twoInARoom();
    const root = await as(alice, [roomId, 'release 1.2 is out']);
    const reply = await as(bob, [roomId, 'congrats', '--reply-to', root.event_id]);
    const inThread = await as(bob, [roomId, 'first in thread', '--thread', root.event_id]);
    const replyInThread = await as(alice, [roomId, 'answer', '--reply-to', inThread.event_id]);
    const lines = parseJsonLines<Sent>((await runMx(['send', roomId, '--lines', '--thread', root.event_id, '-p', bob.profile], { configDir: alice.configDir, input: 'log 1\nlog 2\n' })).stdout);
    expect(lines).toHaveLength(2);
    const edit = await as(alice, [roomId, 'release 1.2.1 is out', '--edit', root.event_id]);
    const editOfEdit = await as(alice, [roomId, 'release 1.2.2 is out', '--edit', edit.event_id]);
    const mention = await as(alice, [roomId, 'please check', '--mention', bob.userId]);
    const inline = await as(alice, [roomId, `thanks ${bob.userId}!`, '--mention', bob.userId]);
    const everyone = await as(alice, [roomId, 'all hands', '--mention-room']);

    const events = await roomHistory(alice.configDir, roomId, { profile: alice.profile });
    // A rich reply; it notifies the sender replied to, with no fallback text.
    expect(byId(events, reply.event_id).content).toEqual({
      msgtype: 'm.text', body: 'congrats', 'm.relates_to': { 'm.in_reply_to': { event_id: root.event_id } }, 'm.mentions': { user_ids: [alice.userId] },
    });
    // A thread message, with the fallback reply for clients without threads.
    expect(byId(events, inThread.event_id).content['m.relates_to']).toEqual({
      rel_type: 'm.thread', event_id: root.event_id, is_falling_back: true, 'm.in_reply_to': { event_id: root.event_id },
    });
    // A reply to a thread message stays in the thread, as a real reply.
    expect(byId(events, replyInThread.event_id).content['m.relates_to']).toEqual({
      rel_type: 'm.thread', event_id: root.event_id, is_falling_back: false, 'm.in_reply_to': { event_id: inThread.event_id },
    });
    // --lines: every line in the thread, each falling back to the line before.
    expect(byId(events, lines[0]!.event_id).content['m.relates_to']).toMatchObject({ rel_type: 'm.thread', event_id: root.event_id, 'm.in_reply_to': { event_id: replyInThread.event_id } });
    expect(byId(events, lines[1]!.event_id).content['m.relates_to']).toMatchObject({ rel_type: 'm.thread', event_id: root.event_id, 'm.in_reply_to': { event_id: lines[0]!.event_id } });
    // An edit, and an edit given the edit: both replace the original.
    expect(byId(events, edit.event_id).content).toEqual({
      msgtype: 'm.text', body: '* release 1.2.1 is out',
      'm.new_content': { msgtype: 'm.text', body: 'release 1.2.1 is out' },
      'm.relates_to': { rel_type: 'm.replace', event_id: root.event_id },
    });
    expect(byId(events, editOfEdit.event_id).content['m.relates_to']).toEqual({ rel_type: 'm.replace', event_id: root.event_id });
    // Mentions: m.mentions, and a pill (the name is prefixed when the text does not have it).
    const bobName = bob.user;
    expect(byId(events, mention.event_id).content).toEqual({
      msgtype: 'm.text', body: `${bobName}: please check`, format: 'org.matrix.custom.html',
      formatted_body: `<a href="https://matrix.to/#/${bob.userId}">${bobName}</a>: please check`, 'm.mentions': { user_ids: [bob.userId] },
    });
    expect(byId(events, inline.event_id).content.formatted_body).toBe(`thanks <a href="https://matrix.to/#/${bob.userId}">${bob.userId}</a>!`);
    expect(byId(events, everyone.event_id).content).toMatchObject({ body: '@room: all hands', 'm.mentions': { room: true } });
    // The server aggregates them: the thread has its messages, the original its edit.
    const root2 = await mxJson<{ unsigned: { 'm.relations'?: Record<string, any> } }>(['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(root.event_id)}`, '-p', alice.profile], { configDir: alice.configDir });
    expect(root2.unsigned['m.relations']?.['m.thread']?.count).toBe(4);
  });

  it('refuses what cannot be: an event that does not exist, editing another user\'s message, a thread inside a thread, a malformed event ID', async () => {
    const { alice, bob, roomId, as, run } = await twoInARoom();
    const root = await as(alice, [roomId, 'hello']);
    const inThread = await as(alice, [roomId, 'in thread', '--thread', root.event_id]);
    const missing = '$doesnotexist0000000000000000000000000000000';
    expectExit(await run(bob, ['send', roomId, 'x', '--reply-to', missing]), 5, /no such event/);
    expectExit(await run(bob, ['send', roomId, 'x', '--edit', root.event_id]), 2, /only its sender can edit it/);
    expectExit(await run(alice, ['send', roomId, 'x', '--thread', inThread.event_id]), 2, /give that root event/);
    expectExit(await run(alice, ['send', roomId, 'x', '--reply-to', 'not-an-event']), 2, /invalid event ID/);
    expectExit(await run(alice, ['send', roomId, 'x', '--edit', root.event_id, '--thread', root.event_id]), 2, /mutually exclusive|cannot|conflict/i);
  });
});

describe('reactions and redactions', () => {
  it('react annotates, once per key; redact removes and is safe to repeat; a redacted event takes no reaction', async () => {
    const { alice, bob, roomId, as, run } = await twoInARoom();
    const message = await as(alice, [roomId, 'vote here']);
    const reacted = await mxJson<Sent & { key: string }>(['react', roomId, message.event_id, '👍', '-p', bob.profile], { configDir: alice.configDir });
    expectExit(await run(bob, ['react', roomId, message.event_id, '👍']), 6, /already reacted/);
    const events = await roomHistory(alice.configDir, roomId, { profile: alice.profile });
    expect(byId(events, reacted.event_id)).toMatchObject({
      type: 'm.reaction', sender: bob.userId, content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: message.event_id, key: '👍' } },
    });

    const redaction = await mxJson<{ event_id: string; redacts: string }>(['redact', roomId, message.event_id, '--reason', 'wrong room', '-p', alice.profile], { configDir: alice.configDir });
    const again = await mxJson<{ event_id: string; already_redacted?: boolean }>(['redact', roomId, message.event_id, '-p', alice.profile], { configDir: alice.configDir });
    expect(again).toMatchObject({ event_id: redaction.event_id, already_redacted: true });
    const after = await roomHistory(alice.configDir, roomId, { profile: alice.profile });
    expect(byId(after, message.event_id).content).toEqual({});
    expect(byId(after, redaction.event_id)).toMatchObject({ type: 'm.room.redaction', content: { reason: 'wrong room', redacts: message.event_id } });
    expectExit(await run(bob, ['react', roomId, message.event_id, '🎉']), 2, /it was redacted/);
    expectExit(await run(bob, ['redact', roomId, '$nothere00000000000000000000000000000000000']), 5, /no such event/);
  });
});

describe('direct messages', () => {
  it('mx send @user makes an encrypted direct chat recorded in m.direct the first time, and uses it afterwards', async () => {
    const { alice, bob, run } = await twoInARoom();
    const first = await run(alice, ['send', bob.userId, 'just between us']);
    expect(first.code, describeResult(['send', bob.userId], first)).toBe(0);
    const sent = JSON.parse(first.stdout) as Sent;
    expect(sent.encrypted).toBe(true);
    expect(first.stderr).toMatch(/started a direct chat/);
    const direct = await mxJson<Record<string, string[]>>(['api', 'GET', `/v3/user/${encodeURIComponent(alice.userId)}/account_data/m.direct`, '-p', alice.profile], { configDir: alice.configDir });
    expect(direct[bob.userId]).toEqual([sent.room_id]);
    const second = JSON.parse((await run(alice, ['send', bob.userId, 'again'])).stdout) as Sent;
    expect(second.room_id).toBe(sent.room_id);
    // Bob is invited to it as to a direct chat.
    const member = await mxJson<{ membership: string; is_direct?: boolean }>(['api', 'GET', `/v3/rooms/${encodeURIComponent(sent.room_id)}/state/m.room.member/${encodeURIComponent(bob.userId)}`, '-p', alice.profile], { configDir: alice.configDir });
    expect(member).toMatchObject({ membership: 'invite', is_direct: true });
  });
});

describe('relations in an encrypted room, read by matrix-js-sdk', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'relations peer' });
  });
  afterAll(() => peer?.stop());

  it('a reply, a thread message, an edit and a reaction keep m.relates_to outside the ciphertext; the peer decrypts them with their relations', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    const root = await peer.sendText(roomId, 'encrypted root');
    const reply = await mxJson<Sent>(['send', roomId, 'encrypted reply', '--reply-to', root], opts);
    const thread = await mxJson<Sent>(['send', roomId, 'encrypted thread', '--thread', root], opts);
    const own = await mxJson<Sent>(['send', roomId, 'typo'], opts);
    const edit = await mxJson<Sent>(['send', roomId, 'fixed', '--edit', own.event_id], opts);
    const reaction = await mxJson<Sent>(['react', roomId, root, '❤️'], opts);
    expect([reply, thread, edit, reaction].every((s) => s.encrypted)).toBe(true);

    const wire = await roomHistory(user.configDir, roomId);
    expect(byId(wire, reply.event_id)).toMatchObject({ type: 'm.room.encrypted', content: { 'm.relates_to': { 'm.in_reply_to': { event_id: root } } } });
    expect(byId(wire, thread.event_id).content['m.relates_to']).toMatchObject({ rel_type: 'm.thread', event_id: root });
    expect(byId(wire, edit.event_id).content['m.relates_to']).toEqual({ rel_type: 'm.replace', event_id: own.event_id });
    expect(byId(wire, reaction.event_id)).toMatchObject({ type: 'm.room.encrypted', content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: root, key: '❤️' } } });
    for (const e of [reply, thread, edit, reaction]) expect(JSON.stringify(byId(wire, e.event_id).content)).not.toMatch(/encrypted reply|encrypted thread|fixed/);

    const seen = await peer.waitForDecryptedMessages(roomId, (m) => m.content.body === '* fixed', 15_000);
    expect(seen[0]!.content).toMatchObject({ 'm.new_content': { body: 'fixed' }, 'm.relates_to': { rel_type: 'm.replace', event_id: own.event_id } });
    const replies = await peer.waitForDecryptedMessages(roomId, (m) => m.content.body === 'encrypted reply', 15_000);
    expect(replies[0]!.content['m.relates_to']).toEqual({ 'm.in_reply_to': { event_id: root } });
    // mx reads its own relations back decrypted, relation in place.
    const history = parseJsonLines<{ event_id: string; type: string; content: Record<string, any> }>((await runMx(['room', 'messages', roomId, '--limit', '10'], opts)).stdout);
    expect(byId(history as RoomEvent[], thread.event_id)).toMatchObject({ type: 'm.room.message', content: { body: 'encrypted thread', 'm.relates_to': { rel_type: 'm.thread', event_id: root } } });
    expect(byId(history as RoomEvent[], reaction.event_id)).toMatchObject({ type: 'm.reaction', content: { 'm.relates_to': { key: '❤️' } } });
  });
});
