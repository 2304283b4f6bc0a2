/**
 * `client.files`: download URLs (thumbnails, file tokens for protected files) and direct
 * uploads of large files to S3-compatible storage. Files are uploaded with a record's
 * `create()` / `update()` otherwise.
 * @module
 */

import { BaasError } from './errors.js';
import { isBlob, sendWithProgress } from './progress.js';
import { queryString } from './query.js';

/** @typedef {import('../index.js').FileUrlOptions} FileUrlOptions */
/** @typedef {import('../index.js').FileValue} FileValue */
/** @typedef {import('../index.js').DirectUploadOptions} DirectUploadOptions */
/** @typedef {import('./client.js').BaasClient} BaasClient */

/** A cached file token is used until this many milliseconds before it expires. */
const TOKEN_MARGIN_MS = 10_000;

/**
 * Milliseconds from now until the server's `expires`, measured on the server's clock
 * (its `Date` header) when it sent one, so a phone's wrong clock does not matter.
 * @param {unknown} expires
 * @param {string | undefined} serverDate
 * @returns {number}
 */
function lifetime(expires, serverDate) {
  const end = typeof expires === 'string' ? Date.parse(expires) : NaN;
  if (Number.isNaN(end)) return 0;
  const now = serverDate ? Date.parse(serverDate) : NaN;
  return end - (Number.isNaN(now) ? Date.now() : now);
}

/**
 * A Blob of a React Native file object's bytes (`fetch(uri).blob()`, no copy in JS).
 * @param {FileValue} file
 * @returns {Promise<Blob>}
 */
async function blobOf(file) {
  if (isBlob(file)) return /** @type {Blob} */ (file);
  const uri = /** @type {any} */ (file)?.uri;
  if (typeof uri !== 'string') {
    throw new TypeError('files.upload: pass a Blob, a File or a React Native file object {uri, name, type}.');
  }
  return (await globalThis.fetch(uri)).blob();
}

/** `client.files`: file URLs, file tokens and direct uploads. */
export class Files {
  /** @param {BaasClient} client */
  constructor(client) {
    this._client = client;
    /** @type {{token: string, until: number, bearer: string | null} | null} */
    this._token = null;
    /** @type {Promise<string> | null} */
    this._tokenRequest = null;
  }

  /**
   * The download URL of a stored file (no request is made): `name` is the value of the
   * record's file field. `thumb: '100x100'` asks for a thumbnail (a size the field's
   * `thumbs` option lists), `token` (from `getToken()`) opens a protected file, and
   * `download: true` makes the browser save it rather than show it.
   * @param {string} collection
   * @param {string} recordId
   * @param {string} name
   * @param {FileUrlOptions} [options]
   * @returns {string}
   */
  url(collection, recordId, name, options = {}) {
    const path = [collection, recordId, name].map((part) => encodeURIComponent(part)).join('/');
    const query = queryString({
      thumb: options.thumb || undefined,
      token: options.token || undefined,
      download: options.download ? '1' : undefined,
    });
    return `${this._client.baseUrl}/files/${path}${query}`;
  }

  /**
   * A short-lived file token for the signed-in user (pass it as `token` to `url()`);
   * kept and reused until about 10 seconds before it expires, so a screen of images
   * makes one request. API keys get none (403): server code sends its key in the
   * Authorization header of the download instead.
   * @returns {Promise<string>}
   */
  async getToken() {
    const bearer = this._client._bearer();
    const cached = this._token;
    if (cached && cached.bearer === bearer && Date.now() < cached.until) return cached.token;
    if (!this._tokenRequest) {
      this._tokenRequest = this._fetchToken().finally(() => { this._tokenRequest = null; });
    }
    return this._tokenRequest;
  }

  /** @returns {Promise<string>} */
  async _fetchToken() {
    const answer = await this._client.send('POST', '/files/token');
    const token = answer.body?.token;
    if (typeof token !== 'string' || token === '') {
      throw new BaasError(answer.status, [
        { code: 'invalid_response', message: 'Expected `token`.' },
      ], { body: answer.body });
    }
    const until = Date.now() + lifetime(answer.body.expires, answer.headers.date) - TOKEN_MARGIN_MS;
    // The bearer after the call: a 401 may have refreshed it on the way.
    this._token = { token, until, bearer: this._client._bearer() };
    return token;
  }

  /**
   * Upload a large file straight to the storage (S3-compatible backends only) and attach
   * it to a record's file field: the server hands out a presigned URL, the bytes go there
   * (with `onUploadProgress` where XMLHttpRequest exists), then the server checks the
   * upload and resolves to the updated record (a single field's file replaced, a multiple
   * field's appended). `name` defaults to the File's or React Native file's name. On
   * local storage this rejects with 409 `direct_uploads_unavailable`.
   * @param {string} collection
   * @param {string} recordId
   * @param {string} field
   * @param {FileValue} file
   * @param {DirectUploadOptions} [options]
   * @returns {Promise<any>}
   */
  async upload(collection, recordId, field, file, options = {}) {
    const name = options.name ?? /** @type {any} */ (file)?.name;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError('files.upload: pass { name } for a Blob without a name.');
    }
    const blob = await blobOf(file);
    const upload = await this._client.request('POST', '/files/uploads', {
      body: { collection, record: recordId, field, name, size: blob.size },
      signal: options.signal,
    });
    await this._put(upload, blob, options);
    return this._client.request('POST', `/files/uploads/${encodeURIComponent(upload.id)}/complete`, {
      signal: options.signal,
    });
  }

  /**
   * Send the bytes where the server said, with exactly its method and headers (no
   * Authorization: the URL is presigned).
   * @param {{method?: string, url: string, headers?: Record<string, string>}} upload
   * @param {Blob} blob
   * @param {DirectUploadOptions} options
   */
  async _put(upload, blob, options) {
    // A typed Blob would add its own Content-Type; send only the headers given.
    const bytes = blob.type ? blob.slice(0, blob.size) : blob;
    /** @type {RequestInit & {headers: Record<string, string>}} */
    const init = { method: upload.method || 'PUT', headers: { ...(upload.headers ?? {}) }, body: bytes };
    if (options.signal) init.signal = options.signal;
    /** @type {Response} */
    let response;
    try {
      response = options.onUploadProgress
        ? await sendWithProgress(this._client._fetch, upload.url, init, options.onUploadProgress)
        : await this._client._fetch(upload.url, init);
    } catch (cause) {
      if (cause && /** @type {any} */ (cause).name === 'AbortError') throw cause;
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new BaasError(0, [{ code: 'network_error', message }], { cause });
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new BaasError(response.status, [{
        code: 'upload_failed',
        message: `The storage refused the upload (HTTP ${response.status}).`,
      }], { body: text });
    }
  }
}
