/** `mx account displayname [NAME]` and `mx account avatar [FILE]`: show or set your profile. */
import { UsageError } from '../../errors.js';
import { getProfileField, setProfileField } from '../../matrix/account.js';
import { readLocalFile, uploadFile } from '../../messages/file.js';
import { defineCommand } from '../command.js';

const displayname = defineCommand({
  command: 'displayname [name]',
  describe: 'Show your display name, or set it to NAME',
  builder: (y) => y.positional('name', { type: 'string' }),
  validate(args) {
    if (args.name !== undefined && args.name.trim() === '') throw new UsageError('give a display name that is not empty');
    return { name: args.name };
  },
  async run(ctx, { name }) {
    const session = await ctx.session();
    const { userId } = await session.whoAmI();
    if (name !== undefined) await setProfileField(session.client, userId, 'displayname', name);
    const now = name ?? (await getProfileField(session.client, userId, 'displayname'));
    await ctx.out.print({ user_id: userId, displayname: now ?? null }, { text: (r) => r.displayname ?? '(none)' });
  },
});

const avatar = defineCommand({
  command: 'avatar [file]',
  describe: 'Show your avatar (its mxc:// URI), or upload FILE and make it your avatar',
  builder: (y) => y.positional('file', { type: 'string', describe: 'an image file' }),
  async run(ctx, args) {
    const session = await ctx.session();
    const { userId } = await session.whoAmI();
    let url: string | undefined;
    if (args.file !== undefined) {
      const file = await readLocalFile(ctx.io.cwd, args.file);
      if (!file.mimetype.startsWith('image/')) throw new UsageError(`${file.name} is ${file.mimetype}, not an image`);
      // An avatar is public: never encrypted.
      const source = await uploadFile(session.client, file, false);
      url = 'url' in source ? source.url : source.file.url;
      await setProfileField(session.client, userId, 'avatar_url', url);
    } else {
      url = await getProfileField(session.client, userId, 'avatar_url');
    }
    await ctx.out.print({ user_id: userId, avatar_url: url ?? null }, { text: (r) => r.avatar_url ?? '(none)' });
  },
});

export const accountCommand = defineCommand({
  command: 'account',
  describe: 'Your profile: display name, avatar',
  subcommands: [displayname, avatar],
});
