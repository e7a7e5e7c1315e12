/**
 * Keeping a stored login alive where access tokens expire (spec: "Refreshing access tokens"). A
 * refresh token is single-use, and many mx processes share one profile, so a refresh happens
 * under the profile store's lock: the process re-reads the profile first, and when another one
 * has refreshed meanwhile it takes that token instead of spending the refresh token again.
 * Nobody ends up logged out, and the new tokens are on disk before anyone uses them.
 */
import { ExitCode, MxError } from '../errors.js';
import { refreshAccessToken } from '../matrix/account.js';
import { MatrixError } from '../matrix/errors.js';
import type { MatrixClient, TokenSource } from '../matrix/http.js';
import { tokenLifetime } from './sessions.js';
import { profileIn, type Profile, type ProfileStore } from './store.js';

/** Refresh a little early: the request must reach the server while the token still works. */
const EXPIRY_MARGIN_MS = 1_000;

/** The server refused the profile's refresh token: the login is gone, `mx login -p NAME` again. */
export class LostLogin extends MxError {
  constructor(profileName: string, refused: MatrixError) {
    super(
      `the login of profile "${profileName}" is gone: the server refused its refresh token (${refused.message}; ` +
        `another copy of this profile may have used it, or the device was logged out): run mx login -p ${profileName}`,
      ExitCode.auth, refused.details, { cause: refused },
    );
    this.name = 'LostLogin';
  }
}

export class ProfileTokens implements TokenSource {
  private token: string;
  private expiresAt: number | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly store: ProfileStore,
    private readonly profileName: string,
    profile: Profile & { accessToken: string },
    /** The homeserver, for POST /refresh (which carries no access token). */
    private readonly plain: MatrixClient,
    private readonly now: () => number,
  ) {
    this.token = profile.accessToken;
    this.expiresAt = profile.accessTokenExpiresAt;
  }

  current(): string {
    return this.token;
  }

  expired(): boolean {
    return this.expiresAt !== undefined && this.now() >= this.expiresAt - EXPIRY_MARGIN_MS;
  }

  refresh(stale: string): Promise<void> {
    // Another request of this process has refreshed already.
    if (stale !== this.token) return Promise.resolve();
    return (this.refreshing ??= this.refreshUnderLock(stale).finally(() => (this.refreshing = undefined)));
  }

  private async refreshUnderLock(stale: string): Promise<void> {
    const name = this.profileName;
    const next = await this.store.update(async (data) => {
      const stored = profileIn(data, name);
      if (!stored?.accessToken) throw new MxError(`profile "${name}" was logged out meanwhile: run mx login -p ${name}`, ExitCode.auth);
      // Another process refreshed first: its token is the one to use (the refresh token is spent).
      if (stored.accessToken !== stale) return { token: stored.accessToken, expiresAt: stored.accessTokenExpiresAt };
      if (!stored.refreshToken) {
        throw new MxError(`the access token of profile "${name}" has expired and it has no refresh token: run mx login -p ${name}`, ExitCode.auth);
      }
      let answer;
      try {
        answer = await refreshAccessToken(this.plain, stored.refreshToken);
      } catch (error) {
        // POST /refresh carries nothing but the refresh token, so a 401 or 403 is about that
        // token: unknown (the device was logged out: M_UNKNOWN_TOKEN), or spent or expired
        // (Synapse: 403 M_FORBIDDEN), as when another copy of the profile refreshed with it. The
        // profile is left as it is: its homeserver, user and device bring mx login back to it.
        if (error instanceof MatrixError && (error.errcode === 'M_UNKNOWN_TOKEN' || error.status === 401 || error.status === 403)) {
          throw new LostLogin(name, error);
        }
        throw error;
      }
      const lifetime = tokenLifetime(answer, this.now());
      stored.accessToken = answer.access_token;
      // The spec: a server may answer without a new refresh token, and then the old one stays good.
      if (lifetime.refreshToken) stored.refreshToken = lifetime.refreshToken;
      if (lifetime.accessTokenExpiresAt === undefined) delete stored.accessTokenExpiresAt;
      else stored.accessTokenExpiresAt = lifetime.accessTokenExpiresAt;
      return { token: stored.accessToken, expiresAt: stored.accessTokenExpiresAt };
    });
    this.token = next.token;
    this.expiresAt = next.expiresAt;
  }
}
