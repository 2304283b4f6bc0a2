/**
 * App-user auth: the allauth headless flows (`app` client), and the JWT pair they end in.
 * Sign-in calls resolve to an `AuthResult`: signed in (the tokens are stored), or a step is
 * pending (e.g. `verify_email`, `mfa_authenticate`); then the client keeps allauth's session
 * token for that flow and sends it (`X-Session-Token`) with the call that completes it.
 * @module
 */

import { BaasError } from './errors.js';

/** @typedef {import('../index.js').ClientOptions} ClientOptions */
/** @typedef {import('../index.js').Tokens} Tokens */
/** @typedef {import('../index.js').TokenStorage} TokenStorage */
/** @typedef {import('../index.js').User} User */
/** @typedef {import('../index.js').AuthResult} AuthResult */
/** @typedef {import('../index.js').AuthFlow} AuthFlow */
/** @typedef {import('../index.js').EmailAddress} EmailAddress */
/** @typedef {import('../index.js').DeviceSession} DeviceSession */

/** Refresh before logging out when the access token expires within this many seconds. */
const EXPIRY_MARGIN = 30;
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

/**
 * allauth's `data.flows` of a 401 answer, or null when it has none.
 * @param {any} body
 * @returns {AuthFlow[] | null}
 */
function flowsOf(body) {
  const flows = body?.data?.flows;
  return Array.isArray(flows) ? flows.filter((f) => f && typeof f === 'object') : null;
}

/**
 * The id of the flow allauth marks pending (a sign-in step before a password reset).
 * @param {AuthFlow[]} flows
 * @returns {string | null}
 */
function pendingFlow(flows) {
  const pending = flows.filter((f) => f.is_pending === true && typeof f.id === 'string').map((f) => f.id);
  return pending.find((id) => id !== 'password_reset_by_code') ?? pending[0] ?? null;
}

/**
 * The `exp` claim of a JWT, read without checking it (the server checks it); null when
 * unreadable or when this runtime has no `atob`.
 * @param {string} token
 * @returns {number | null}
 */
function jwtExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const exp = JSON.parse(globalThis.atob(padded)).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

/**
 * @param {any} value
 * @returns {any[]}
 */
function listOf(value) {
  return Array.isArray(value) ? value.filter((item) => item && typeof item === 'object') : [];
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
    // The SDK's own observers of token changes (the realtime connection re-authenticates).
    /** @type {Set<(tokens: Tokens) => void>} */
    this._listeners = new Set();
    // Tokens given explicitly win over stored ones; otherwise storage is read once, lazily.
    /** @type {Promise<void> | null} */
    this._loading = this._storage && !this._accessToken && !this._refreshToken ? null : Promise.resolve();
    /** @type {Promise<Tokens> | null} */
    this._refreshing = null;
    // allauth's session token of a flow in progress (sign-up awaiting its code, ...).
    /** @type {string | null} */
    this._sessionToken = null;
    /** @type {string | null} */
    this._pending = null;
    // The logout under way: the realtime connection's close 4003 is its own doing then.
    /** @type {Promise<void> | null} */
    this._loggingOut = null;
  }

  /** The step a sign-in flow waits for (`verify_email`, ...), or null. */
  get pending() {
    return this._pending;
  }

  /** allauth's session token of the flow in progress (sent as `X-Session-Token`). */
  get sessionToken() {
    return this._sessionToken;
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
    for (const listener of this._listeners) listener(current);
    if (this._onTokens) this._onTokens(current);
  }

  /**
   * Call `listener` after every change of the tokens (login, refresh, clear), before
   * `onTokens`; returns a function that stops it.
   * @param {(tokens: Tokens) => void} listener
   * @returns {() => void}
   */
  _listen(listener) {
    this._listeners.add(listener);
    return () => { this._listeners.delete(listener); };
  }

  /**
   * Forget the tokens (here and in storage) and any flow in progress (local only).
   * @returns {Promise<void>}
   */
  clear() {
    this._endFlow();
    return this.setTokens({ accessToken: null, refreshToken: null });
  }

  // --- sign-in flows ----------------------------------------------------------------------

  /**
   * Create an account. Signed in at once, or (mandatory verification) pending
   * `verify_email`: the server mailed a code; pass it to `verifyEmail()`.
   * @param {string} email
   * @param {string} password
   * @returns {Promise<AuthResult>}
   */
  signup(email, password) {
    return this._flow('POST', '/auth/signup', { email, password }, { start: true });
  }

  /**
   * Log in with email and password: signed in, or pending `mfa_authenticate` (call
   * `mfaAuthenticate(code)`) or `verify_email` (an unverified address). Wrong credentials:
   * `BaasError` 400 (e.g. code `incorrect_credentials`).
   * @param {string} email
   * @param {string} password
   * @returns {Promise<AuthResult>}
   */
  login(email, password) {
    return this._flow('POST', '/auth/login', { email, password }, { start: true });
  }

  /**
   * The code mailed after `signup()` (or `login()` of an unverified address), or after
   * `changeEmail()` when signed in. A wrong code: `BaasError` 400, param `key`.
   * @param {string} code
   * @returns {Promise<AuthResult>}
   */
  verifyEmail(code) {
    return this._flow('POST', '/auth/email/verify', { key: code });
  }

  /**
   * Mail the verification code again: for the pending sign-up, or (signed in, with
   * `email`) for an address added by `changeEmail()`. Too soon: `BaasError` 429 or 403.
   * @param {string} [email]
   * @returns {Promise<void>}
   */
  async resendVerification(email) {
    if (email !== undefined && email !== null && this._sessionToken === null) {
      await this._client.request('PUT', '/account/email', { body: { email } });
      return;
    }
    await this._sessionCall('POST', '/auth/email/verify/resend');
  }

  /**
   * The second factor after `login()` resolved pending `mfa_authenticate`: a TOTP code or
   * a recovery code.
   * @param {string} code
   * @returns {Promise<AuthResult>}
   */
  mfaAuthenticate(code) {
    return this._flow('POST', '/auth/2fa/authenticate', { code });
  }

  /**
   * Mail a one-time sign-in code (pending `login_by_code`); then `confirmLoginCode(code)`.
   * An unknown address looks the same (no account enumeration).
   * @param {string} email
   * @returns {Promise<AuthResult>}
   */
  requestLoginCode(email) {
    return this._flow('POST', '/auth/code/request', { email }, { start: true });
  }

  /**
   * The code mailed by `requestLoginCode()`: signed in (or pending MFA).
   * @param {string} code
   * @returns {Promise<AuthResult>}
   */
  confirmLoginCode(code) {
    return this._flow('POST', '/auth/code/confirm', { code });
  }

  /**
   * Mail a password reset code (pending `password_reset_by_code`); then
   * `resetPassword(code, password)`. An unknown address looks the same.
   * @param {string} email
   * @returns {Promise<AuthResult>}
   */
  requestPasswordReset(email) {
    return this._flow('POST', '/auth/password/request', { email }, { start: true });
  }

  /**
   * Optional: check the reset code before asking for a new password; resolves to the user
   * it belongs to. A wrong code is `BaasError` 400 (attempts are limited).
   * @param {string} code
   * @returns {Promise<User>}
   */
  async checkPasswordResetCode(code) {
    const answer = await this._sessionCall('GET', '/auth/password/reset', undefined, {
      'X-Password-Reset-Key': code,
    });
    return answer.body?.data?.user ?? {};
  }

  /**
   * Set a new password with the mailed code. Every device session of the account ends;
   * the result is not signed in (log in with the new password).
   * @param {string} code
   * @param {string} password
   * @returns {Promise<AuthResult>}
   */
  resetPassword(code, password) {
    return this._flow('POST', '/auth/password/reset', { key: code, password }, { doneOn401: true });
  }

  /**
   * Native social sign-in: the ID token a provider SDK (Google, Apple, ...) gave the app,
   * for the app's OAuth `clientId`.
   * @param {string} provider
   * @param {string} idToken
   * @param {string} clientId
   * @returns {Promise<AuthResult>}
   */
  signInWithIdToken(provider, idToken, clientId) {
    return this._flow('POST', '/auth/provider/token', {
      provider,
      process: 'login',
      token: { client_id: clientId, id_token: idToken },
    }, { start: true });
  }

  /**
   * Sign in as a new guest (an account without email or password).
   * @returns {Promise<AuthResult>}
   */
  guest() {
    return this._flow('POST', '/auth/guest', {}, { start: true });
  }

  /**
   * Give the signed-in guest an email and password (may be pending `verify_email`, like
   * `signup()`).
   * @param {string} email
   * @param {string} password
   * @returns {Promise<AuthResult>}
   */
  upgradeGuest(email, password) {
    return this._flow('POST', '/auth/guest/upgrade', { email, password }, { signedIn: true });
  }

  /**
   * Confirm the password before a sensitive call that failed with `BaasError` 401 code
   * `reauthentication_required` (e.g. `deleteAccount()`).
   * @param {string} password
   * @returns {Promise<AuthResult>}
   */
  reauthenticate(password) {
    return this._flow('POST', '/auth/reauthenticate', { password }, { signedIn: true });
  }

  // --- signed-in account ------------------------------------------------------------------

  /**
   * Change the password. Every other device is signed out; this one gets a new token pair
   * (stored here). A wrong current password: `BaasError` 400.
   * @param {string} currentPassword
   * @param {string} newPassword
   * @returns {Promise<void>}
   */
  async changePassword(currentPassword, newPassword) {
    const body = await this._client.request('POST', '/account/password/change', {
      body: { current_password: currentPassword, new_password: newPassword },
    });
    await this._storeTokens(body);
  }

  /**
   * Start changing the address: the server mails a code to `email`; it replaces the
   * current address once `verifyEmail(code)` confirms it. Resolves to `listEmails()`.
   * @param {string} email
   * @returns {Promise<EmailAddress[]>}
   */
  async changeEmail(email) {
    const body = await this._client.request('POST', '/account/email', { body: { email } });
    return listOf(body?.data);
  }

  /**
   * The account's addresses: `[{email, verified, primary}, ...]`.
   * @returns {Promise<EmailAddress[]>}
   */
  async listEmails() {
    return listOf((await this._client.request('GET', '/account/email'))?.data);
  }

  /**
   * The account's device sessions: `[{id, is_current, created_at, ip, user_agent}, ...]`.
   * @returns {Promise<DeviceSession[]>}
   */
  async sessions() {
    return listOf((await this._client.request('GET', '/auth/sessions'))?.data);
  }

  /**
   * Sign these device sessions out (their tokens stop working); resolves to the rest.
   * @param {Array<string | number>} ids
   * @returns {Promise<DeviceSession[]>}
   */
  async endSessions(ids) {
    const body = await this._client.request('DELETE', '/auth/sessions', {
      body: { sessions: [...ids] },
    });
    return listOf(body?.data);
  }

  /**
   * End this device session on the server and forget the tokens here (always, even when
   * the server cannot be reached; the error is thrown afterwards).
   * @returns {Promise<void>}
   */
  logout() {
    if (!this._loggingOut) {
      this._loggingOut = this._logout().finally(() => { this._loggingOut = null; });
    }
    return this._loggingOut;
  }

  /** @returns {Promise<void>} */
  async _logout() {
    try {
      const token = await this._liveAccessToken();
      if (token) {
        await this._client.send('DELETE', '/auth/session', {
          headers: { Authorization: `Bearer ${token}` },
          authenticate: false,
        });
      }
    } catch (error) {
      // 401 is allauth's answer to a logout: no one is signed in any more.
      if (!(error instanceof BaasError && (error.status === 401 || error.status === 410))) {
        await this.clear();
        throw error;
      }
    }
    await this.clear();
  }

  /**
   * Delete the account and forget the tokens. May fail with `BaasError` 401 code
   * `reauthentication_required`: call `reauthenticate(password)`, then again.
   * @returns {Promise<void>}
   */
  async deleteAccount() {
    await this._client.request('DELETE', '/account');
    await this.clear();
  }

  /**
   * Everything the server holds about the account, as JSON.
   * @returns {Promise<Record<string, unknown>>}
   */
  exportAccount() {
    return this._client.request('GET', '/account/export');
  }

  // --- tokens -----------------------------------------------------------------------------

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

  // --- internals --------------------------------------------------------------------------

  _endFlow() {
    this._sessionToken = null;
    this._pending = null;
  }

  /**
   * Store the pair an answer carries (a sign-in); false when it carries none.
   * @param {any} body
   * @returns {Promise<boolean>}
   */
  async _storeTokens(body) {
    const meta = body?.meta;
    const accessToken = meta && typeof meta.access_token === 'string' ? meta.access_token : null;
    if (!accessToken) return false;
    const refreshToken = typeof meta.refresh_token === 'string' ? meta.refresh_token : null;
    this._endFlow();
    await this.setTokens({ accessToken, refreshToken });
    return true;
  }

  /**
   * The access token, refreshed first if it has expired (or is about to).
   * @returns {Promise<string | null>}
   */
  async _liveAccessToken() {
    await this.ready();
    const token = this._accessToken;
    const expiry = token ? jwtExpiry(token) : null;
    if (this._refreshToken && (!token || expiry === null || expiry < Date.now() / 1000 + EXPIRY_MARGIN)) {
      try {
        await this.refresh();
      } catch (error) {
        if (error instanceof BaasError && error.status >= 400 && error.status < 500) return null;
        throw error;
      }
    }
    return this._accessToken;
  }

  /**
   * A call that continues the flow in progress (its `X-Session-Token`).
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {Record<string, string>} [headers]
   */
  async _sessionCall(method, path, body, headers = {}) {
    if (this._sessionToken === null) {
      throw new BaasError(0, [
        { code: 'no_pending_flow', message: 'No sign-in flow is in progress; start one first.' },
      ]);
    }
    try {
      return await this._client.send(method, path, {
        body,
        headers: { 'X-Session-Token': this._sessionToken, ...headers },
        authenticate: false,
      });
    } catch (error) {
      if (error instanceof BaasError && error.status === 410) this._endFlow();
      throw error;
    }
  }

  /**
   * One step of a sign-in flow. `start`: begins a new flow (no credential, no session
   * token). `signedIn`: the signed-in user's call (Bearer). Otherwise the flow in progress
   * continues with its session token, or, when there is none, the signed-in user's (e.g.
   * verifying a changed address). A 401 naming a pending flow is a result, not an error.
   * @param {string} method
   * @param {string} path
   * @param {unknown} body
   * @param {{start?: boolean, signedIn?: boolean, doneOn401?: boolean}} [options]
   * @returns {Promise<AuthResult>}
   */
  async _flow(method, path, body, options = {}) {
    if (options.start) this._endFlow();
    let answer;
    try {
      if (options.start) {
        answer = await this._client.send(method, path, { body, authenticate: false });
      } else if (options.signedIn || this._sessionToken === null) {
        answer = await this._client.send(method, path, { body });
      } else {
        answer = await this._sessionCall(method, path, body);
      }
    } catch (error) {
      if (!(error instanceof BaasError) || error.status !== 401) throw error;
      const errorBody = /** @type {any} */ (error.body);
      const flows = flowsOf(errorBody);
      // No flows, or signed in but this call wants a fresh password first.
      if (flows === null || errorBody?.meta?.is_authenticated === true) throw error;
      const pending = pendingFlow(flows);
      if (pending !== null) {
        const token = errorBody?.meta?.session_token;
        if (typeof token === 'string') this._sessionToken = token;
        this._pending = pending;
        return { signedIn: false, user: null, pending, flows };
      }
      if (options.doneOn401) {
        this._endFlow();
        return { signedIn: false, user: null, pending: null, flows };
      }
      throw error;
    }
    await this._storeTokens(answer.body);
    // A signed-in answer may still name a step (a guest's new address to verify).
    const flows = flowsOf(answer.body) ?? [];
    const pending = pendingFlow(flows);
    this._pending = pending;
    return { signedIn: true, user: answer.body?.data?.user ?? {}, pending, flows };
  }
}
