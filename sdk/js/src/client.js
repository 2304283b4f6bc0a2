/**
 * The client: base URL, credentials, one `request()` that every API area goes through.
 * @module
 */

import { Auth } from './auth.js';
import { BaasError, errorFromResponse } from './errors.js';
import { RecordCollection } from './records.js';
import { Collections, Schema } from './schema.js';

/** @typedef {import('../index.js').ClientOptions} ClientOptions */
/** @typedef {import('../index.js').RequestOptions} RequestOptions */

const API_PREFIX = '/api/v1';

/**
 * `https://host` or `https://host/api/v1` (trailing slash or not) → `https://host/api/v1`.
 * @param {string} baseUrl
 * @returns {string}
 */
export function apiRoot(baseUrl) {
  if (typeof baseUrl !== 'string' || baseUrl === '') {
    throw new TypeError('createClient: baseUrl is required, e.g. "https://api.example.com".');
  }
  const root = baseUrl.replace(/\/+$/, '');
  return root.endsWith(API_PREFIX) ? root : root + API_PREFIX;
}

/**
 * A query string from defined values only (no URLSearchParams: React Native's is partial).
 * @param {Record<string, string | number | boolean | null | undefined> | undefined} query
 * @returns {string}
 */
function queryString(query) {
  if (!query) return '';
  const parts = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * Response headers as a plain object.
 * @param {Response} response
 * @returns {Record<string, string>}
 */
function headersOf(response) {
  /** @type {Record<string, string>} */
  const result = {};
  response.headers.forEach((value, key) => { result[key] = value; });
  return result;
}

/** A client for one BaaS server; create it with `createClient()`. */
export class BaasClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    if (!options || typeof options !== 'object') {
      throw new TypeError('createClient: pass an options object, e.g. { baseUrl }.');
    }
    /** @type {string} */
    this.baseUrl = apiRoot(options.baseUrl);
    /** @type {string | null} */
    this.apiKey = options.apiKey ?? null;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new TypeError('createClient: no global fetch here; pass options.fetch.');
    }
    // Called unbound, a browser's fetch throws "Illegal invocation".
    /** @type {typeof fetch} */
    this._fetch = options.fetch ? options.fetch : (input, init) => globalThis.fetch(input, init);
    /** @type {Record<string, string>} */
    this._headers = { ...(options.headers ?? {}) };
    /** @type {Auth} */
    this.auth = new Auth(this, options);
    /** @type {Collections} */
    this.collections = new Collections(this);
    /** @type {Schema} */
    this.schema = new Schema(this);
  }

  /**
   * Records of one collection: `client.collection('posts').list()`.
   * @param {string} name
   * @returns {RecordCollection<any>}
   */
  collection(name) {
    return new RecordCollection(this, name);
  }

  /**
   * Send one request to `path` (below `/api/v1`) and return the decoded JSON body
   * (`undefined` for 204). Throws `BaasError` for any status >= 400. Unless
   * `authenticate: false`, the stored credential is sent and a 401 is retried once after
   * refreshing the tokens when a refresh token is known.
   * @param {string} method
   * @param {string} path
   * @param {RequestOptions} [options]
   * @returns {Promise<any>}
   */
  async request(method, path, options = {}) {
    const authenticate = options.authenticate !== false;
    if (authenticate) await this.auth.ready();
    const bearer = authenticate ? this._bearer() : null;
    let response = await this._send(method, path, options, bearer);
    if (
      response.status === 401
      && authenticate
      && this.auth.refreshToken
      && (bearer === null || bearer !== this.apiKey)
      && await this.auth._recoverFrom401(bearer)
    ) {
      response = await this._send(method, path, options, this._bearer());
    }
    return this._decode(response);
  }

  /** @returns {string | null} */
  _bearer() {
    return this.auth.accessToken ?? this.apiKey;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {RequestOptions} options
   * @param {string | null} bearer
   * @returns {Promise<Response>}
   */
  async _send(method, path, options, bearer) {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json', ...this._headers, ...(options.headers ?? {}) };
    /** @type {RequestInit} */
    const init = { method, headers };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    try {
      return await this._fetch(this.baseUrl + path + queryString(options.query), init);
    } catch (cause) {
      if (cause && /** @type {any} */ (cause).name === 'AbortError') throw cause;
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new BaasError(0, [{ code: 'network_error', message }], { cause });
    }
  }

  /**
   * @param {Response} response
   * @returns {Promise<any>}
   */
  async _decode(response) {
    const text = response.status === 204 ? '' : await response.text();
    /** @type {unknown} */
    let body;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new BaasError(response.status, [
            { code: 'invalid_response', message: 'The response body is not JSON.' },
          ]);
        }
      }
    }
    if (response.status >= 400) {
      throw errorFromResponse(response.status, body, headersOf(response));
    }
    return body;
  }
}

/**
 * Create a client.
 * @param {ClientOptions} options
 * @returns {BaasClient}
 */
export function createClient(options) {
  return new BaasClient(options);
}
