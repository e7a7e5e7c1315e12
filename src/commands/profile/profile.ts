import type { Context } from '../../context.js';
import { ExitCode, MxError } from '../../errors.js';
import { printable } from '../../matrix/identifiers.js';
import { damagedProfiles, profileIn, removeDamagedProfile, type Profile, type StoreData } from '../../profiles/store.js';
import { defineCommand } from '../command.js';
import { retireDevice } from '../device/forget.js';

/** A profile as mx prints it: the token only when asked for. */
function describeProfile(name: string, profile: Profile, data: StoreData, showToken: boolean) {
  return {
    name,
    default: data.defaultProfile === name,
    homeserver: profile.homeserver,
    user_id: profile.userId ?? null,
    device_id: profile.deviceId ?? null,
    logged_in: Boolean(profile.accessToken),
    ...(profile.isGuest ? { is_guest: true } : {}),
    ...(showToken ? { access_token: profile.accessToken ?? null } : {}),
    // Not secret, and what a CI job needs to know of a token it might export.
    access_token_expires_at: profile.accessTokenExpiresAt === undefined ? null : new Date(profile.accessTokenExpiresAt).toISOString(),
    refreshable: Boolean(profile.refreshToken),
    positions: profile.positions ?? {},
  };
}

function requireProfile(data: StoreData, name: string): Profile {
  const profile = profileIn(data, name);
  if (!profile) throw new MxError(`no profile named "${printable(name)}" (mx profile list shows them)`, ExitCode.notFound);
  return profile;
}

const list = defineCommand({
  command: 'list',
  aliases: ['ls'],
  describe: 'List profiles',
  async run(ctx) {
    const data = await ctx.storeData();
    // A damaged profile is not listed, and said so: the others stay usable (see store.ts).
    for (const problem of damagedProfiles(data)) ctx.warn(problem);
    const profiles = Object.entries(data.profiles).map(([name, p]) => describeProfile(name, p, data, false));
    await ctx.out.print(profiles, {
      table: {
        head: ['', 'NAME', 'USER', 'HOMESERVER', 'DEVICE', 'LOGGED IN'],
        rows: (all) => all.map((p) => [p.default ? '*' : '', p.name, p.user_id ?? '', p.homeserver, p.device_id ?? '', p.logged_in ? 'yes' : 'no']),
      },
    });
  },
});

const show = defineCommand({
  command: 'show [name]',
  describe: 'Show one profile (the current one by default)',
  builder: (y) =>
    y
      .positional('name', { type: 'string' })
      .option('show-token', { type: 'boolean', default: false, describe: 'include the access token in the output' }),
  async run(ctx, args) {
    const name = args.name ?? (await ctx.sessions.profileName());
    const data = await ctx.storeData();
    const profile = describeProfile(name, requireProfile(data, name), data, args.showToken);
    await ctx.out.print(profile, {
      text: (p) =>
        Object.entries(p)
          .map(([key, value]) => `${key}: ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`)
          .join('\n'),
    });
  },
});

const use = defineCommand({
  command: 'use <name>',
  describe: 'Make a profile the default',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
  async run(ctx, args) {
    await ctx.store.update((data) => {
      requireProfile(data, args.name);
      data.defaultProfile = args.name;
    });
    await ctx.out.print({ default: args.name }, { text: (r) => `Default profile is now "${r.default}"` });
  },
});

const rm = defineCommand({
  command: 'rm <name>',
  aliases: ['remove'],
  describe: 'Delete a profile from this machine (does not log out on the server; mx logout does)',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
  async run(ctx: Context, args) {
    const removed = await ctx.store.update((data) => {
      // A damaged profile goes as it is: none of its values (its device, its token) is trusted.
      const profile = removeDamagedProfile(data, args.name) ? undefined : requireProfile(data, args.name);
      delete data.profiles[args.name];
      if (data.defaultProfile === args.name) delete data.defaultProfile;
      return profile;
    });
    // Without the profile, nothing can use the device's crypto store (its key was in the profile).
    retireDevice(ctx, removed);
    if (removed?.accessToken) ctx.warn(`the token of "${args.name}" was not logged out and stays valid on ${removed.homeserver}`);
    await ctx.out.print({ removed: args.name }, { text: (r) => `Removed profile "${r.removed}"` });
  },
});

export const profileCommand = defineCommand({
  command: 'profile',
  describe: 'Manage saved profiles (list, show, use, rm)',
  subcommands: [list, show, use, rm],
});
