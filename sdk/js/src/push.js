/**
 * `client.push`: push notifications. App users register their devices (FCM and APNs tokens
 * from React Native, Web Push subscriptions from browsers), subscribe them to topics and
 * report opens; superusers and API keys with the `push:send` scope (server-side code) send
 * messages, schedule them, read their status and cancel them.
 * @module
 */

import { BaasError } from './errors.js';

/** @typedef {import('../index.js').PushDevice} PushDevice */
/** @typedef {import('../index.js').DeviceRegistration} DeviceRegistration */
/** @typedef {import('../index.js').WebPushOptions} WebPushOptions */
/** @typedef {import('../index.js').PushRegistrationLike} PushRegistrationLike */
/** @typedef {import('../index.js').PushSubscriptionLike} PushSubscriptionLike */
/** @typedef {import('../index.js').TopicSubscription} TopicSubscription */
/** @typedef {import('../index.js').PushMessageInput} PushMessageInput */
/** @typedef {import('../index.js').PushMessage} PushMessage */
/** @typedef {import('../index.js').PushMessageStatus} PushMessageStatus */
/** @typedef {import('../index.js').PushMessagePage} PushMessagePage */
/** @typedef {import('../index.js').ResultsOptions} ResultsOptions */
/** @typedef {import('../index.js').MessageListOptions} MessageListOptions */
/** @typedef {import('../index.js').WriteOptions} WriteOptions */
/** @typedef {import('./client.js').BaasClient} BaasClient */

/** The option names the server spells in snake_case. */
/** @type {Record<string, string>} */
const WIRE_NAMES = { appVersion: 'app_version', sendAt: 'send_at', collapseKey: 'collapse_key' };

/** What the server accepts as a locale (BCP 47 without extensions, at most 35 characters). */
const LOCALE = /^[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8}){0,4}$/;

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A request body in the server's spelling: `appVersion` → `app_version`, `sendAt` →
 * `send_at`, `collapseKey` → `collapse_key`; other names as given, `undefined` left out.
 * @param {Record<string, unknown>} fields
 * @returns {Record<string, unknown>}
 */
function wireBody(fields) {
  /** @type {Record<string, unknown>} */
  const body = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) body[WIRE_NAMES[name] ?? name] = value;
  }
  return body;
}

/**
 * The runtime's IANA time zone (`Europe/Paris`), or `undefined` when it has none.
 * @returns {string | undefined}
 */
function runtimeTimeZone() {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return typeof zone === 'string' && zone !== '' && zone !== 'Etc/Unknown' ? zone : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The runtime's locale (`en-US`) without extensions, or `undefined`.
 * @returns {string | undefined}
 */
function runtimeLocale() {
  /** @type {unknown} */
  let tag;
  try {
    tag = Intl.DateTimeFormat().resolvedOptions().locale;
  } catch {
    tag = undefined;
  }
  if (typeof tag !== 'string' || tag === '') tag = /** @type {any} */ (globalThis).navigator?.language;
  if (typeof tag !== 'string') return undefined;
  // `de-DE-u-co-phonebk` → `de-DE`: the extensions say nothing a push message needs.
  const plain = tag.replace(/-[A-Za-z0-9]-.*$/, '');
  return plain.length <= 35 && LOCALE.test(plain) ? plain : undefined;
}

/**
 * The device fields, with `locale` and `timezone` the runtime's unless given (`null` sends
 * none).
 * @param {Record<string, unknown>} fields
 * @returns {Record<string, unknown>}
 */
function withRuntimeDefaults(fields) {
  return {
    ...fields,
    locale: fields.locale === undefined ? runtimeLocale() : fields.locale,
    timezone: fields.timezone === undefined ? runtimeTimeZone() : fields.timezone,
  };
}

/**
 * The bytes of a base64url (or base64) string, e.g. the VAPID public key.
 * @param {string} text
 * @returns {Uint8Array}
 */
function base64UrlToBytes(text) {
  const clean = text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let value = 0;
  let bits = 0;
  let index = 0;
  for (const char of clean) {
    const digit = BASE64URL.indexOf(char);
    if (digit < 0) throw new TypeError(`Not base64url: ${JSON.stringify(text)}.`);
    value = ((value << 6) | digit) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[index++] = (value >> bits) & 0xff;
    }
  }
  return bytes;
}

/**
 * The bytes of an `ArrayBuffer` or typed array (a subscription's `applicationServerKey`).
 * @param {unknown} value
 * @returns {Uint8Array | null}
 */
function bytesOf(value) {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

/**
 * Whether a browser subscription was made with `key`. A browser that does not say which key
 * it used (no `options.applicationServerKey`) is trusted to have used this one.
 * @param {PushSubscriptionLike} subscription
 * @param {Uint8Array} key
 * @returns {boolean}
 */
function madeWithKey(subscription, key) {
  const current = subscription.options?.applicationServerKey;
  if (current === undefined || current === null) return true;
  const bytes = bytesOf(current);
  return bytes !== null && bytes.length === key.length && bytes.every((byte, i) => byte === key[i]);
}

/**
 * `{endpoint, keys: {p256dh, auth}}` of a browser subscription (its `toJSON()`).
 * @param {PushSubscriptionLike} subscription
 */
function subscriptionJson(subscription) {
  /** @type {{endpoint?: string, keys?: Record<string, string>}} */
  const json = typeof subscription.toJSON === 'function' ? subscription.toJSON() : /** @type {any} */ (subscription);
  return {
    endpoint: json.endpoint,
    keys: { p256dh: json.keys?.p256dh, auth: json.keys?.auth },
  };
}

/**
 * `client.push`: devices, topics and opens for app users; sending, scheduling, status and
 * cancelling for superusers and `push:send` API keys.
 */
export class Push {
  /** @param {BaasClient} client */
  constructor(client) {
    this._client = client;
  }

  // --- devices (app users) ---------------------------------------------------------------

  /**
   * Register this app install for the signed-in user with the token its messaging library
   * gave it: `platform: 'fcm'` (e.g. `await messaging().getToken()` from
   * @react-native-firebase/messaging) or `'apns'` (the hex device token). Registering the
   * same token again updates the device (same `id`; `topics`, when given, replace its
   * topics); a token another account registered moves to this user. `locale` and
   * `timezone` (IANA, used by `sendAt: {local}`) default to the runtime's; `null` sends
   * none. Resolves to the device. 400 `invalid_token`, 403 `topic_forbidden` for a topic
   * the topic rules refuse.
   * @param {DeviceRegistration} device
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<PushDevice>}
   */
  async registerDevice(device, options = {}) {
    if (!device || typeof device !== 'object') {
      throw new TypeError("push.registerDevice: pass { platform: 'fcm' | 'apns', token, ... }.");
    }
    return this._client.request('POST', '/push/devices', {
      body: wireBody(withRuntimeDefaults({ ...device })),
      signal: options.signal,
    });
  }

  /**
   * Register this browser for Web Push: fetches the server's VAPID public key, subscribes
   * with `registration.pushManager.subscribe({userVisibleOnly: true,
   * applicationServerKey})` (the subscription the browser already has is reused when it was
   * made with that key, else it is unsubscribed first), then registers
   * `subscription.toJSON()` as a `webpush` device. `registration` is the service worker's
   * (`await navigator.serviceWorker.register('/sw.js')`); the browser asks the user for
   * permission on the first subscribe. Options are those of `registerDevice()` but
   * `platform` and `token`. Resolves to the device.
   * @param {PushRegistrationLike} registration
   * @param {WebPushOptions} [options]
   * @returns {Promise<PushDevice>}
   */
  async registerWebPush(registration, options = {}) {
    const manager = registration?.pushManager;
    if (!manager || typeof manager.subscribe !== 'function' || typeof manager.getSubscription !== 'function') {
      throw new TypeError(
        'push.registerWebPush: pass a ServiceWorkerRegistration (navigator.serviceWorker.register()); '
        + 'this runtime has no Push API (React Native: registerDevice with an FCM or APNs token).',
      );
    }
    const { signal, ...fields } = options;
    const key = base64UrlToBytes(await this.vapidPublicKey({ signal }));
    let subscription = await manager.getSubscription();
    if (subscription && !madeWithKey(subscription, key)) {
      // Made with another server's key (or an old one of this server's): a browser keeps
      // one subscription per service worker, so it goes first.
      await subscription.unsubscribe();
      subscription = null;
    }
    if (!subscription) {
      subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    }
    return this._client.request('POST', '/push/devices', {
      body: wireBody(withRuntimeDefaults({
        ...fields, platform: 'webpush', subscription: subscriptionJson(subscription),
      })),
      signal,
    });
  }

  /**
   * The server's VAPID public key (base64url, 87 characters: a 65-byte P-256 point), the
   * `applicationServerKey` of browser subscriptions. Needs no sign-in.
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<string>}
   */
  async vapidPublicKey(options = {}) {
    const body = await this._client.request('GET', '/push/webpush/vapid-public-key', {
      authenticate: false,
      signal: options.signal,
    });
    const key = body?.public_key;
    if (typeof key !== 'string' || key === '') {
      throw new BaasError(200, [
        { code: 'invalid_response', message: 'Expected `public_key`.' },
      ], { body });
    }
    return key;
  }

  /**
   * The signed-in user's devices, newest first (inactive ones too: `active: false` after a
   * provider rejected the token).
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<PushDevice[]>}
   */
  async listDevices(options = {}) {
    const body = await this._client.request('GET', '/push/devices', { signal: options.signal });
    return body?.items ?? [];
  }

  /**
   * Unregister one of the user's devices (e.g. on sign-out). 404 `device_not_found` for
   * a device of another user.
   * @param {string} id
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async unregisterDevice(id, options = {}) {
    await this._client.request('DELETE', `/push/devices/${encodeURIComponent(id)}`, {
      signal: options.signal,
    });
  }

  /**
   * Subscribe the user's active devices (or the `devices` listed, by id) to `topic`.
   * 403 `topic_forbidden` when the topic rules do not let the user subscribe to it.
   * @param {string} topic
   * @param {{devices?: string[], signal?: AbortSignal}} [options]
   * @returns {Promise<TopicSubscription>}
   */
  subscribe(topic, options = {}) {
    return this._topicSubscription('POST', topic, options);
  }

  /**
   * Unsubscribe the user's active devices (or the `devices` listed) from `topic`.
   * @param {string} topic
   * @param {{devices?: string[], signal?: AbortSignal}} [options]
   * @returns {Promise<TopicSubscription>}
   */
  unsubscribe(topic, options = {}) {
    return this._topicSubscription('DELETE', topic, options);
  }

  /**
   * @param {string} method
   * @param {string} topic
   * @param {{devices?: string[], signal?: AbortSignal}} options
   * @returns {Promise<TopicSubscription>}
   */
  _topicSubscription(method, topic, options) {
    return this._client.request(method, `/push/topics/${encodeURIComponent(topic)}/subscription`, {
      body: options.devices === undefined ? undefined : { devices: options.devices },
      signal: options.signal,
    });
  }

  /**
   * Tell the server the user opened a message (its id is the payload's `message_id`): its
   * result on `device` (or on every device of the user it reached) becomes `opened`.
   * Resolves to `{opened: n}`, the results changed. 404 `message_not_found` for a message
   * that did not reach the user.
   * @param {string} messageId
   * @param {{device?: string, signal?: AbortSignal}} [options]
   * @returns {Promise<{opened: number}>}
   */
  reportOpened(messageId, options = {}) {
    return this._client.request('POST', `/push/messages/${encodeURIComponent(messageId)}/opened`, {
      body: options.device === undefined ? {} : { device: options.device },
      signal: options.signal,
    });
  }

  // --- messages (superusers, `push:send` API keys) -----------------------------------------

  /**
   * Send a message (superusers and API keys with `push:send`: server-side code, never an
   * app): `to` names exactly one of `{users: [ids]}`, `{topic}`, `{devices: [ids]}` or
   * `{filter}` (an expression over the users collection); `notification` `{title, body,
   * image, badge, sound}` and/or `data` (text values); `sendAt` (a `Date`, an RFC 3339
   * string, or `{local: 'HH:MM'}` in each device's time zone) schedules it; `ttl`
   * (seconds), `collapseKey`, `priority` (`'high'` or `'normal'`), `overrides` (per
   * platform). Resolves (202) to the message: `id`, `state`, `total`, ... Pass an
   * `idempotencyKey` to retry safely: the message is sent once.
   * @param {PushMessageInput} message
   * @param {WriteOptions} [options]
   * @returns {Promise<PushMessage>}
   */
  async send(message, options = {}) {
    if (!message || typeof message !== 'object') {
      throw new TypeError('push.send: pass { to, notification, data, ... }.');
    }
    const sendAt = message.sendAt instanceof Date ? message.sendAt.toISOString() : message.sendAt;
    return this._client.request('POST', '/push/messages', {
      body: wireBody({ ...message, sendAt }),
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
  }

  /**
   * `send()` of a message for later: `sendAt` is required. It stays `scheduled` until
   * then and may be cancelled (`cancel(id)`) until it is sent.
   * @param {PushMessageInput & {sendAt: NonNullable<PushMessageInput['sendAt']>}} message
   * @param {WriteOptions} [options]
   * @returns {Promise<PushMessage>}
   */
  async schedule(message, options = {}) {
    if (!message || message.sendAt === undefined || message.sendAt === null) {
      throw new TypeError("push.schedule: pass { sendAt } (a Date, an RFC 3339 string or { local: 'HH:MM' }).");
    }
    return this.send(message, options);
  }

  /**
   * One message with `counts` per device state (`queued`, `sent`, `failed`,
   * `invalid_token`, `opened`) and one page of per-device `results` (`state` picks one
   * state, e.g. `'failed'`; the page's `next_cursor` as `cursor` for the next).
   * @param {string} id
   * @param {ResultsOptions} [options]
   * @returns {Promise<PushMessageStatus>}
   */
  status(id, options = {}) {
    return this._client.request('GET', `/push/messages/${encodeURIComponent(id)}`, {
      query: { state: options.state, limit: options.limit, cursor: options.cursor },
      signal: options.signal,
    });
  }

  /**
   * Messages, newest first, one page: `{items, next_cursor}`; `state` (`scheduled`,
   * `sending`, `done`, `cancelled`) filters.
   * @param {MessageListOptions} [options]
   * @returns {Promise<PushMessagePage>}
   */
  async listMessages(options = {}) {
    const body = await this._client.request('GET', '/push/messages', {
      query: { state: options.state, limit: options.limit, cursor: options.cursor },
      signal: options.signal,
    });
    return { items: body?.items ?? [], next_cursor: body?.next_cursor ?? null };
  }

  /**
   * Cancel a message no device has been sent yet (a scheduled one); resolves to it, state
   * `cancelled`. 409 `already_sent` once sending began.
   * @param {string} id
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<PushMessage>}
   */
  cancel(id, options = {}) {
    return this._client.request('DELETE', `/push/messages/${encodeURIComponent(id)}`, {
      signal: options.signal,
    });
  }
}
