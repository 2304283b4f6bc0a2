/**
 * App-user auth: log in with email and password, hold, persist and refresh the JWT pair.
 * @module
 */

import { BaasError } from './errors.js';

/** @typedef {import('../index.js').ClientOptions} ClientOptions */
/** @typedef {import('../index.js').Tokens} Tokens */
/** @typedef {import('../index.js').TokenStorage} TokenStorage */
/** @typedef {import('../index.js').User} User */
/** @typedef {import('./client.js').BaasClient} BaasClient */

/**
 * A token from allauth's answer: `data` for a refresh, `meta` for a login.
 * @param {any} body
 * @param {string} key
 * @returns {string | null}
 */
function pick(body, key) {
  if (!body || typeof body !== 'object') return null;
  for (const part of ['data', 'meta']) {
    const section = body[part];
    if (section && typeof section === 'object' && typeof section[key] === 'string') {
      return section[key];
    }
  }
  return null;
}

/** `client.auth`: the allauth headless endpoints (`app` client) and the stored tokens. */
export class Auth {
  /**
   * @param {BaasClient} client
   * @param {ClientOptions} options
   */
  constructor(client, options) {
    this._client = client;
    /** @type {string | null} */
    this._accessToken = options.token ?? null;
    /** @type {string | null} */
    this._refreshToken = options.refreshToken ?? null;
    /** @type {TokenStorage | null} */
    this._storage = options.storage ?? null;
    this._storageKey = options.storageKey ?? 'baas.auth';
    this._onTokens = options.onTokens ?? null;
    // Tokens given explicitly win over stored ones; otherwise storage is read once, lazily.
    /** @type {Promise<void> | null} */
    this._loading = this._storage && !this._accessToken && !this._refreshToken ? null : Promise.resolve();
    /** @type {Promise<Tokens> | null} */
    this._refreshing = null;
  }

  /** The current access token (a JWT, valid at most 15 minutes), if any. */
  get accessToken() {
    return this._accessToken;
  }

  /** The current refresh token (single use, rotated on every refresh), if any. */
  get refreshToken() {
    return this._refreshToken;
  }

  /**
   * Resolves once tokens persisted in `storage` have been loaded (every request awaits it).
   * @returns {Promise<void>}
   */
  ready() {
    if (!this._loading) {
      this._loading = (async () => {
        const storage = /** @type {TokenStorage} */ (this._storage);
        const raw = await storage.getItem(this._storageKey);
        if (!raw || this._accessToken || this._refreshToken) return;
        try {
          const saved = JSON.parse(raw);
          this._accessToken = typeof saved.accessToken === 'string' ? saved.accessToken : null;
          this._refreshToken = typeof saved.refreshToken === 'string' ? saved.refreshToken : null;
        } catch {
          // An unreadable entry is treated as no session.
        }
      })();
    }
    return this._loading;
  }

  /**
   * Replace the stored tokens (and persist them when a storage was given).
   * @param {Tokens} tokens
   * @returns {Promise<void>}
   */
  async setTokens(tokens) {
    this._loading = Promise.resolve();
    this._accessToken = tokens.accessToken ?? null;
    this._refreshToken = tokens.refreshToken ?? null;
    const current = { accessToken: this._accessToken, refreshToken: this._refreshToken };
    if (this._storage) {
      if (current.accessToken || current.refreshToken) {
        await this._storage.setItem(this._storageKey, JSON.stringify(current));
      } else {
        await this._storage.removeItem(this._storageKey);
      }
    }
    if (this._onTokens) this._onTokens(current);
  }

  /**
   * Forget the tokens, here and in storage (local only; the server is not called).
   * @returns {Promise<void>}
   */
  clear() {
    return this.setTokens({ accessToken: null, refreshToken: null });
  }

  /**
   * Log in with email and password, store the tokens, and return the user. Throws
   * `BaasError` 400 (e.g. code `incorrect_credentials`) on wrong credentials, or 401 when
   * allauth needs another step first (the pending flows are in `error.body`).
   * @param {string} email
   * @param {string} password
   * @returns {Promise<User>}
   */
  async login(email, password) {
    const body = await this._client.request('POST', '/auth/login', {
      body: { email, password },
      authenticate: false,
    });
    const accessToken = pick(body, 'access_token');
    if (!accessToken) {
      throw new BaasError(200, [
        { code: 'invalid_response', message: 'The login answer has no access token.' },
      ], { body });
    }
    await this.setTokens({ accessToken, refreshToken: pick(body, 'refresh_token') });
    return body?.data?.user ?? {};
  }

  /**
   * Exchange the refresh token for a new pair, store it, and return it. The server rotates
   * refresh tokens (reusing a spent one revokes the chain), so concurrent callers share
   * one refresh.
   * @returns {Promise<Tokens>}
   */
  refresh() {
    if (!this._refreshing) {
      this._refreshing = this._refresh().finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  /** @returns {Promise<Tokens>} */
  async _refresh() {
    await this.ready();
    const refreshToken = this._refreshToken;
    if (!refreshToken) {
      throw new BaasError(0, [
        { code: 'no_refresh_token', message: 'No refresh token is known; log in first.' },
      ]);
    }
    const body = await this._client.request('POST', '/tokens/refresh', {
      body: { refresh_token: refreshToken },
      authenticate: false,
    });
    const accessToken = pick(body, 'access_token');
    if (!accessToken) {
      throw new BaasError(200, [
        { code: 'invalid_response', message: 'The refresh answer has no access token.' },
      ], { body });
    }
    const tokens = { accessToken, refreshToken: pick(body, 'refresh_token') ?? refreshToken };
    await this.setTokens(tokens);
    return tokens;
  }

  /**
   * After a 401 sent with `usedToken`: true if a retry may succeed. A refresh that
   * happened meanwhile is used as is; a refresh token the server rejects (4xx) is dead,
   * so the tokens are cleared.
   * @param {string | null} usedToken
   * @returns {Promise<boolean>}
   */
  async _recoverFrom401(usedToken) {
    if (this._accessToken && this._accessToken !== usedToken) return true;
    try {
      await this.refresh();
      return true;
    } catch (error) {
      if (error instanceof BaasError && error.status >= 400 && error.status < 500) {
        await this.clear();
        return false;
      }
      throw error;
    }
  }
}
