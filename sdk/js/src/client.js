/**
 * The client: base URL, credentials, one `request()` that every API area goes through.
 * @module
 */

import { Auth } from './auth.js';
import {
  BaasError, errorFromResponse, reauthenticationRequired, sessionEnded,
} from './errors.js';
import { Files } from './files.js';
import { sendWithProgress } from './progress.js';
import { Push } from './push.js';
import { queryString } from './query.js';
import { Realtime } from './realtime.js';
import { RecordCollection } from './records.js';
import { Collections, Schema } from './schema.js';

/** @typedef {import('../index.js').ClientOptions} ClientOptions */
/** @typedef {import('../index.js').RequestOptions} RequestOptions */
/** @typedef {import('../index.js').ApiResponse} ApiResponse */
/** @typedef {import('../index.js').BatchOperation} BatchOperation */
/** @typedef {import('../index.js').BatchResponse} BatchResponse */

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

/**
 * The decoded JSON body of a response, read from a clone (the body stays readable).
 * @param {Response} response
 * @returns {Promise<unknown>}
 */
async function peekJson(response) {
  try {
    return await response.clone().json();
  } catch {
    return undefined;
  }
}

/**
 * True for a `FormData` (the runtime's own: browsers, React Native, Node >= 18).
 * @param {unknown} body
 * @returns {boolean}
 */
function isFormData(body) {
  return typeof FormData === 'function' && body instanceof FormData;
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
    /** @type {Files} */
    this.files = new Files(this);
    /** @type {Push} */
    this.push = new Push(this);
    /** @type {ClientOptions} */
    this._options = options;
    /** @type {Realtime | null} */
    this._realtime = null;
  }

  /**
   * Realtime over one WebSocket, made on first use (the connection opens with the first
   * subscription): `client.realtime.subscribe('posts', cb)`, `client.realtime.channel(name)`.
   * @returns {Realtime}
   */
  get realtime() {
    if (this._realtime === null) this._realtime = new Realtime(this, this._options);
    return this._realtime;
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
   * refreshing the tokens when a refresh token is known. `idempotencyKey` is sent as the
   * `Idempotency-Key` header. A `FormData` body is sent as multipart, any other body as
   * JSON; `onUploadProgress` reports the upload (by XMLHttpRequest where it exists).
   * @param {string} method
   * @param {string} path
   * @param {RequestOptions} [options]
   * @returns {Promise<any>}
   */
  async request(method, path, options = {}) {
    return (await this.send(method, path, options)).body;
  }

  /**
   * Like `request()`, but resolves to the whole answer `{status, body, headers}` (header
   * names lower-case), e.g. for `etag` or `idempotent-replayed`. A 304 resolves (body
   * `undefined`); any status >= 400 throws `BaasError`.
   * @param {string} method
   * @param {string} path
   * @param {RequestOptions} [options]
   * @returns {Promise<ApiResponse>}
   */
  async send(method, path, options = {}) {
    const authenticate = options.authenticate !== false;
    if (authenticate) await this.auth.ready();
    const bearer = authenticate ? this._bearer() : null;
    let response = await this._send(method, path, options, bearer);
    if (
      response.status === 401
      && authenticate
      && this.auth.refreshToken
      && (bearer === null || bearer !== this.apiKey)
      && !reauthenticationRequired(401, await peekJson(response))
      && await this.auth._recoverFrom401(bearer)
    ) {
      // The same Idempotency-Key again: the 401 had no effect, and the server keys stored
      // answers by caller, so the retry under the new token runs once.
      response = await this._send(method, path, options, this._bearer());
    }
    if (
      response.status === 410
      && bearer !== null
      && bearer === this.auth.accessToken
      && sessionEnded(410, await peekJson(response))
    ) {
      // allauth's answer to a token whose device session was ended (logout on another
      // device, password change, ...): the refresh token is dead with it.
      await this.auth.clear();
    }
    const body = await this._decode(response);
    return { status: response.status, body, headers: headersOf(response) };
  }

  /**
   * Call a route of the server's hooks modules (`@route`, served under `/api/v1/fn`):
   * `client.fn('GET', '/stats')`. Resolves to the decoded JSON body (`undefined` for 204);
   * an error status throws `BaasError` like every other call.
   * @param {string} method
   * @param {string} path
   * @param {{body?: any, query?: Record<string, string | number | boolean | null | undefined>, idempotencyKey?: string, signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  async fn(method, path, options = {}) {
    const below = path.startsWith('/') ? path : `/${path}`;
    return this.request(method.toUpperCase(), `/fn${below}`, options);
  }

  /**
   * Run record operations in one transaction, all or nothing (at most 100). Build them
   * with a collection's `opCreate()`, `opUpdate()`, `opDelete()`, `opGet()`, `opList()`,
   * or as `{method, url, body}`. Resolves to `[{status, body}, ...]` in order (201 and the
   * record for a create, 200 for an update or read, 204 and `null` for a delete). If one
   * operation fails nothing is written, and the `BaasError` carries that operation's
   * status and errors, each `param` prefixed `requests.<index>.` (e.g. `requests.1.title`).
   * @param {BatchOperation[]} operations
   * @param {{idempotencyKey?: string, signal?: AbortSignal}} [options]
   * @returns {Promise<BatchResponse[]>}
   */
  async batch(operations, options = {}) {
    const body = await this.request('POST', '/batch', {
      body: { requests: operations },
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
    if (!body || !Array.isArray(body.responses)) {
      throw new BaasError(200, [
        { code: 'invalid_response', message: 'Expected `responses`.' },
      ], { body });
    }
    return body.responses;
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
    /** @type {RequestInit & {headers: Record<string, string>}} */
    const init = { method, headers };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (options.idempotencyKey !== undefined && options.idempotencyKey !== null) {
      headers['Idempotency-Key'] = options.idempotencyKey;
    }
    if (isFormData(options.body)) {
      // The runtime writes the multipart Content-Type with its boundary.
      init.body = /** @type {FormData} */ (options.body);
    } else if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    const url = this.baseUrl + path + queryString(options.query);
    try {
      if (options.onUploadProgress) {
        return await sendWithProgress(this._fetch, url, init, options.onUploadProgress);
      }
      return await this._fetch(url, init);
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
 * A fresh random Idempotency-Key (a UUID v4): make one per logical operation, keep it, and
 * send it again with every retry of that operation. Uses `crypto.randomUUID` or
 * `crypto.getRandomValues` (React Native: install a polyfill such as
 * react-native-get-random-values); without either it throws rather than make a guessable
 * key (the server derives the stored answer's encryption key from it).
 * @returns {string}
 */
export function newIdempotencyKey() {
  const cryptoImpl = /** @type {any} */ (globalThis).crypto;
  if (cryptoImpl && typeof cryptoImpl.randomUUID === 'function') return cryptoImpl.randomUUID();
  if (cryptoImpl && typeof cryptoImpl.getRandomValues === 'function') {
    const bytes = cryptoImpl.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  throw new TypeError('newIdempotencyKey: no crypto.getRandomValues here; install a polyfill.');
}

/**
 * Create a client.
 * @param {ClientOptions} options
 * @returns {BaasClient}
 */
export function createClient(options) {
  return new BaasClient(options);
}
