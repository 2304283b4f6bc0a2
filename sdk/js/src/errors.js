/**
 * The one error the client throws for API errors, mirroring the server's envelope
 * `{"status": 400, "errors": [{"code", "message", "param"}]}`.
 * @module
 */

/** @typedef {import('../index.js').ErrorItem} ErrorItem */

/** Codes for error answers that carry no `errors` list (a proxy's page, allauth flows). */
/** @type {Record<number, string>} */
const DEFAULT_CODES = {
  400: 'bad_request',
  401: 'not_authenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  410: 'gone',
  412: 'precondition_failed',
  413: 'too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

/**
 * An error answered by the server (`status` >= 400), or a request that got no answer
 * (`status` 0: network error, or a client-side precondition such as no refresh token).
 * `code`, `message` and `param` are those of the first item of `errors`.
 */
export class BaasError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when there was no answer
   * @param {ErrorItem[]} [errors] the envelope's error items
   * @param {{body?: unknown, headers?: Record<string, string>, cause?: unknown}} [options]
   */
  constructor(status, errors, options = {}) {
    const items = errors && errors.length > 0
      ? errors
      : [{ code: DEFAULT_CODES[status] ?? (status >= 500 ? 'server_error' : 'http_error'),
           message: `The server answered HTTP ${status}.` }];
    super(items[0].message || `HTTP ${status}`);
    this.name = 'BaasError';
    // Set directly: not every runtime (older Hermes) honours Error's `cause` option.
    if (options.cause !== undefined) this.cause = options.cause;
    /** @type {number} */
    this.status = status;
    /** @type {ErrorItem[]} */
    this.errors = items;
    /** @type {string} */
    this.code = items[0].code;
    /** @type {string | undefined} */
    this.param = items[0].param;
    /** @type {unknown} */
    this.body = options.body;
    /** @type {Record<string, string>} */
    this.headers = options.headers ?? {};
  }
}

/**
 * Build a BaasError from a decoded error response.
 * @param {number} status
 * @param {unknown} body
 * @param {Record<string, string>} headers
 * @returns {BaasError}
 */
export function errorFromResponse(status, body, headers) {
  /** @type {ErrorItem[]} */
  const items = [];
  const raw = body && typeof body === 'object' ? /** @type {any} */ (body).errors : undefined;
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      if (!entry || typeof entry !== 'object') continue;
      /** @type {ErrorItem} */
      const item = {
        code: String(entry.code || DEFAULT_CODES[status] || 'error'),
        message: String(entry.message || ''),
      };
      if (entry.param !== undefined && entry.param !== null) item.param = String(entry.param);
      items.push(item);
    }
  }
  if (items.length === 0 && reauthenticationRequired(status, body)) {
    items.push({
      code: 'reauthentication_required',
      message: 'Confirm the password first (auth.reauthenticate()).',
    });
  }
  if (items.length === 0 && sessionEnded(status, body)) {
    items.push({ code: 'session_ended', message: 'This device session has ended; sign in again.' });
  }
  return new BaasError(status, items, { body, headers });
}

/**
 * allauth's 401 for a signed-in user whose call needs the password confirmed first.
 * @param {number} status
 * @param {unknown} body
 * @returns {boolean}
 */
export function reauthenticationRequired(status, body) {
  const meta = body && typeof body === 'object' ? /** @type {any} */ (body).meta : undefined;
  return status === 401 && !!meta && typeof meta === 'object' && meta.is_authenticated === true;
}

/**
 * allauth's 410: the device session the credentials name no longer exists.
 * @param {number} status
 * @param {unknown} body
 * @returns {boolean}
 */
export function sessionEnded(status, body) {
  const b = body && typeof body === 'object' ? /** @type {any} */ (body) : null;
  return status === 410 && !!b && !!b.meta && !b.meta.is_authenticated && !b.errors;
}
