/**
 * Sending a request body with upload progress. `fetch` cannot report it, so where
 * `XMLHttpRequest` exists (browsers, React Native) the request goes through XHR and its
 * answer is turned into a `Response`; elsewhere (Node) fetch sends it and the callback is
 * called once, after the upload, with `loaded === total`.
 * @module
 */

/** @typedef {import('../index.js').UploadProgress} UploadProgress */
/** @typedef {(progress: UploadProgress) => void} ProgressCallback */

/** Statuses whose `Response` must have no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The byte size of a request body, as far as it can be known without reading it: a
 * string's UTF-8 length, a Blob's size, a FormData's files and fields (no multipart
 * framing; a React Native file object counts its `size` if it has one).
 * @param {unknown} body
 * @returns {number}
 */
export function bodySize(body) {
  if (body === undefined || body === null) return 0;
  if (typeof body === 'string') return utf8Length(body);
  if (isBlob(body)) return /** @type {Blob} */ (body).size;
  const form = /** @type {any} */ (body);
  if (typeof form.forEach === 'function' && typeof form.append === 'function') {
    let total = 0;
    form.forEach((/** @type {unknown} */ value) => { total += bodySize(value); });
    return total;
  }
  if (Array.isArray(form._parts)) {
    // React Native's FormData: [[name, value], ...]; file objects may carry `size`.
    let total = 0;
    for (const [, value] of form._parts) {
      total += typeof value === 'object' && value !== null && !isBlob(value)
        ? Number(value.size) || 0
        : bodySize(value);
    }
    return total;
  }
  if (typeof form.byteLength === 'number') return form.byteLength;
  return 0;
}

/**
 * @param {string} text
 * @returns {number}
 */
function utf8Length(text) {
  let length = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x80) length += 1;
    else if (code < 0x800) length += 2;
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) { length += 4; i += 1; }
    else length += 3;
  }
  return length;
}

/**
 * @param {unknown} value
 * @returns {boolean}
 */
export function isBlob(value) {
  return typeof Blob === 'function' && value instanceof Blob;
}

/**
 * Send `init` to `url` and report upload progress: by XHR where it exists, else by
 * `fetchImpl` with one call to `onProgress` once the answer has come.
 * @param {typeof fetch} fetchImpl
 * @param {string} url
 * @param {RequestInit & {headers: Record<string, string>}} init
 * @param {ProgressCallback} onProgress
 * @returns {Promise<Response>}
 */
export async function sendWithProgress(fetchImpl, url, init, onProgress) {
  const XHR = /** @type {any} */ (globalThis).XMLHttpRequest;
  if (typeof XHR === 'function') return xhrSend(XHR, url, init, onProgress);
  const response = await fetchImpl(url, init);
  const total = bodySize(init.body);
  onProgress({ loaded: total, total });
  return response;
}

/**
 * An `AbortError` like the one fetch rejects with.
 * @param {AbortSignal | null | undefined} signal
 * @returns {Error}
 */
function abortError(signal) {
  const reason = signal && /** @type {any} */ (signal).reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  if (typeof DOMException === 'function') return new DOMException('The request was aborted.', 'AbortError');
  const error = new Error('The request was aborted.');
  error.name = 'AbortError';
  return error;
}

/**
 * Response headers of a finished XHR.
 * @param {any} xhr
 * @returns {[string, string][]}
 */
function xhrHeaders(xhr) {
  /** @type {[string, string][]} */
  const headers = [];
  for (const line of String(xhr.getAllResponseHeaders() || '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return headers;
}

/**
 * One request by XMLHttpRequest, answered as a fetch `Response`; a network failure
 * rejects with a TypeError (as fetch does), an abort with an `AbortError`.
 * @param {any} XHR the XMLHttpRequest constructor
 * @param {string} url
 * @param {RequestInit & {headers: Record<string, string>}} init
 * @param {ProgressCallback} onProgress
 * @returns {Promise<Response>}
 */
function xhrSend(XHR, url, init, onProgress) {
  return new Promise((resolve, reject) => {
    const signal = init.signal;
    if (signal && signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const xhr = new XHR();
    const onAbort = () => xhr.abort();
    const done = () => signal && signal.removeEventListener('abort', onAbort);
    xhr.open(init.method ?? 'GET', url, true);
    for (const [name, value] of Object.entries(init.headers ?? {})) xhr.setRequestHeader(name, value);
    if (xhr.upload) {
      xhr.upload.onprogress = (/** @type {ProgressEvent} */ event) => {
        if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
      };
    }
    xhr.onload = () => {
      done();
      const status = xhr.status;
      if (!status) {
        reject(new TypeError('Network request failed'));
        return;
      }
      try {
        resolve(new Response(NULL_BODY.has(status) ? null : xhr.responseText, {
          status,
          statusText: xhr.statusText,
          headers: xhrHeaders(xhr),
        }));
      } catch (cause) {
        reject(cause);
      }
    };
    xhr.onerror = () => { done(); reject(new TypeError('Network request failed')); };
    xhr.ontimeout = () => { done(); reject(new TypeError('Network request timed out')); };
    xhr.onabort = () => { done(); reject(abortError(signal)); };
    if (signal) signal.addEventListener('abort', onAbort);
    xhr.send(init.body ?? null);
  });
}
