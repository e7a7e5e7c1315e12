// Shell completion asks mx itself (completions/ and `mx completion` call --get-yargs-completions):
// every command and subcommand is offered, the new ones too.
import { describe, expect, it } from 'vitest';
import { runMx } from './helpers.js';

const complete = async (...words: string[]) => (await runMx(['--get-yargs-completions', 'mx', ...words])).stdout.split('\n').filter(Boolean);

describe('shell completion', () => {
  it('offers every command, subcommand and flag', async () => {
    expect(await complete('')).toEqual(expect.arrayContaining([
      'register', 'login', 'logout', 'whoami', 'room', 'invite', 'join', 'leave', 'send', 'react', 'redact', 'download', 'read', 'typing',
      'sync', 'tail', 'space', 'user', 'account', 'crypto', 'device', 'profile', 'api', 'completion',
    ]));
    expect(await complete('room', '')).toEqual(expect.arrayContaining(['create', 'list', 'members', 'messages', 'state', 'directory', 'kick', 'ban', 'unban', 'power', 'alias']));
    expect(await complete('crypto', '')).toEqual(expect.arrayContaining(['status', 'setup', 'recover', 'export', 'import', 'trust']));
    expect(await complete('device', '')).toEqual(expect.arrayContaining(['list', 'rename', 'delete']));
    expect(await complete('space', '')).toEqual(expect.arrayContaining(['add', 'tree']));
    expect(await complete('send', '!r:x', '--')).toEqual(expect.arrayContaining(['--reply-to', '--thread', '--edit', '--mention', '--mention-room']));
    expect(await complete('tail', '--')).toEqual(expect.arrayContaining(['--download', '--key-wait']));
    expect(await complete('login', '--')).toEqual(expect.arrayContaining(['--sso', '--idp', '--browser', '--sso-timeout', '--refresh']));
    expect(await complete('api', 'GET', '/x', '--')).toEqual(expect.arrayContaining(['--paginate', '--include', '--field', '--raw-field']));
  });
});
