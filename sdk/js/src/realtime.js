/**
 * Realtime (`client.realtime`): record events and channels over one WebSocket to
 * `/api/v1/realtime` (docs/realtime.md is the protocol). The connection opens on the first
 * subscription or publish, signs in with the client's credential and follows its tokens
 * (login, refresh, logout), renews the access token before it expires, sends a heartbeat,
 * and after a lost connection reconnects with backoff and resumes every record
 * subscription from its last change token: each event arrives once, in order.
 * @module
 */

import { BaasError, errorFromResponse } from './errors.js';

/** @typedef {import('./client.js').BaasClient} BaasClient */
/** @typedef {import('../index.js').ClientOptions} ClientOptions */
/** @typedef {import('../index.js').RealtimeOptions} RealtimeOptions */
/** @typedef {import('../index.js').RealtimeState} RealtimeState */
/** @typedef {import('../index.js').RealtimeEvent} RealtimeEvent */
/** @typedef {import('../index.js').ChannelMessage} ChannelMessage */
/** @typedef {import('../index.js').PresenceChange} PresenceChange */
/** @typedef {import('../index.js').SubscribeOptions} SubscribeOptions */
/** @typedef {import('../index.js').Tokens} Tokens */

/** @type {Required<RealtimeOptions>} */
const DEFAULTS = {
  reconnectMin: 500,
  reconnectMax: 30_000,
  pingInterval: 25_000,
  pingTimeout: 10_000,
  refreshBefore: 60_000,
};

// The server closes a connection that sends over 60 frames at once or 20 a second
// (BAAS_REALTIME_FRAME_BURST, _RATE); resubscribing many topics stays below that.
const SEND_BURST = 40;
const SEND_RATE = 15;

const OPEN = 1;
const GOING_AWAY = 1001;
const TOO_BIG = 1009;
const AUTH_EXPIRED = 4001;
const SESSION_ENDED = 4003;
const SLOW_CONSUMER = 4008;
const CHANNEL_PREFIX = 'channel:';

/**
 * `http(s)://host/api/v1` → `ws(s)://host/api/v1/realtime`.
 * @param {string} apiRoot
 * @returns {string}
 */
export function realtimeUrl(apiRoot) {
  return apiRoot.replace(/^http(s?):/i, 'ws$1:') + '/realtime';
}

/**
 * @param {string} code
 * @param {string} message
 * @param {number} [status]
 * @returns {BaasError}
 */
function failure(code, message, status = 0) {
  return new BaasError(status, [{ code, message }]);
}

/**
 * A promise that never counts as unhandled (the app may not await it), with its settlers.
 * @returns {{promise: Promise<void>, resolve: () => void, reject: (error: unknown) => void}}
 */
function deferred() {
  /** @type {() => void} */
  let resolve = () => {};
  /** @type {(error: unknown) => void} */
  let reject = () => {};
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * One subscription as the connection knows it (record topic or channel).
 * @typedef {object} SubState
 * @property {string} id
 * @property {string} topic
 * @property {string | null} filter
 * @property {string | null} token the last change token (record topics), sent as `since`
 * @property {string | null} ackToken a resumed subscription's ack token, kept until a pong
 *   proves that the replay before it has arrived
 * @property {number} advanceAt the pong count at which `ackToken` becomes `token`
 * @property {boolean} sent subscribed on the current connection
 * @property {boolean} resumed that subscribe carried `since`
 * @property {(frame: any) => void} onFrame
 * @property {((error: BaasError) => void) | null} onError
 * @property {ReturnType<typeof deferred>} ready
 * @property {boolean} settled
 * @property {Channel | null} channel
 */

/**
 * A publish waiting for its `published` answer.
 * @typedef {object} PendingPublish
 * @property {string} text
 * @property {boolean} sent
 * @property {() => void} resolve
 * @property {(error: unknown) => void} reject
 */

/** What `subscribe()` returns: `unsubscribe()` ends it; `token` is where it is in the change log. */
export class Subscription {
  /**
   * @param {SubState} state
   * @param {() => void} remove
   */
  constructor(state, remove) {
    this._state = state;
    this._remove = remove;
    /** The topic: `posts`, `posts/<id>` or `channel:<name>`. */
    this.topic = state.topic;
    /**
     * Resolves once the server acknowledged the subscription; rejects with the
     * `BaasError` it refused it with (also given to `onError`).
     * @type {Promise<void>}
     */
    this.ready = state.ready.promise;
  }

  /**
   * The change token of the last event (or of the acknowledgement), null before it or for
   * a channel. Store it to resume later: `subscribe(topic, cb, { since: token })`.
   * @returns {string | null}
   */
  get token() {
    return this._state.token;
  }

  /** End the subscription (no more callbacks; calling it again does nothing). */
  unsubscribe() {
    const remove = this._remove;
    this._remove = () => {};
    remove();
  }
}

/**
 * `client.realtime.channel('room-42')`: messages between clients and, when the channel
 * tracks it, presence (the signed-in users subscribed to it).
 */
export class Channel {
  /**
   * @param {Realtime} realtime
   * @param {string} name
   */
  constructor(realtime, name) {
    this._realtime = realtime;
    /** @type {string} */
    this.name = name;
    /** @type {string} */
    this.topic = CHANNEL_PREFIX + name;
    /** @type {Set<{onMessage: ((message: ChannelMessage) => void) | null, onError: ((error: BaasError) => void) | null}>} */
    this._listeners = new Set();
    /** @type {Set<(change: PresenceChange) => void>} */
    this._presenceListeners = new Set();
    /** @type {string[]} */
    this._members = [];
    /** @type {SubState | null} */
    this._sub = null;
  }

  /**
   * The user ids present on the channel (presence channels; you included when signed in),
   * as of the last acknowledgement and join/leave since; empty when not subscribed.
   * @returns {string[]}
   */
  get members() {
    return [...this._members];
  }

  /**
   * Receive the messages other clients publish here: `onMessage({topic, data, from})`.
   * The channel is subscribed while it has a listener; `onError` gets a refusal (403, 404
   * `channel_not_found`), which ends the channel's listeners.
   * @param {((message: ChannelMessage) => void) | null} [onMessage]
   * @param {{onError?: (error: BaasError) => void}} [options]
   * @returns {Subscription}
   */
  subscribe(onMessage, options = {}) {
    const listener = { onMessage: onMessage ?? null, onError: options.onError ?? null };
    this._listeners.add(listener);
    const state = this._ensureSub();
    return new Subscription(state, () => {
      this._listeners.delete(listener);
      this._release();
    });
  }

  /**
   * Send `data` (any JSON value) to the channel's other subscribers; resolves once the
   * server accepted it, rejects with a `BaasError` (403, 404, or status 0 when the
   * connection dropped before the answer: it may or may not have been delivered).
   * @param {unknown} data
   * @returns {Promise<void>}
   */
  publish(data) {
    return this._realtime._publish(this.topic, data);
  }

  /**
   * Follow presence: `callback({action, user, members})` for each `join` and `leave`, and
   * `sync` (user null) with the whole list whenever the subscription is (re)acknowledged.
   * Subscribes the channel too; returns a function that stops the callback.
   * @param {(change: PresenceChange) => void} callback
   * @returns {() => void}
   */
  onPresence(callback) {
    if (typeof callback !== 'function') throw new TypeError('onPresence: pass a function.');
    this._presenceListeners.add(callback);
    this._ensureSub();
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this._presenceListeners.delete(callback);
      this._release();
    };
  }

  /** @returns {SubState} */
  _ensureSub() {
    if (!this._sub) {
      this._sub = this._realtime._addSub({
        topic: this.topic,
        filter: null,
        since: null,
        onFrame: (frame) => this._message(frame),
        onError: (error) => this._refused(error),
        channel: this,
      });
    }
    return this._sub;
  }

  _release() {
    if (this._sub && this._listeners.size === 0 && this._presenceListeners.size === 0) {
      const sub = this._sub;
      this._sub = null;
      this._members = [];
      this._realtime._removeSub(sub);
    }
  }

  /** @param {any} frame */
  _message(frame) {
    const message = { topic: frame.topic, data: frame.data, from: frame.from ?? null };
    for (const listener of [...this._listeners]) {
      if (listener.onMessage) this._realtime._call(listener.onMessage, message);
    }
  }

  /** @param {unknown} members */
  _synced(members) {
    if (!Array.isArray(members)) return;
    this._members = members.map(String);
    this._presence({ action: 'sync', user: null, members: this.members });
  }

  /** @param {any} frame */
  _presenceFrame(frame) {
    const user = frame.user === null || frame.user === undefined ? null : String(frame.user);
    if (user === null) return;
    if (frame.action === 'join' && !this._members.includes(user)) this._members.push(user);
    if (frame.action === 'leave') this._members = this._members.filter((m) => m !== user);
    this._presence({ action: frame.action, user, members: this.members });
  }

  /** @param {PresenceChange} change */
  _presence(change) {
    for (const listener of [...this._presenceListeners]) this._realtime._call(listener, change);
  }

  /** @param {BaasError} error */
  _refused(error) {
    const listeners = [...this._listeners].filter((l) => l.onError);
    this._sub = null;
    this._members = [];
    this._listeners.clear();
    this._presenceListeners.clear();
    if (listeners.length === 0) {
      this._realtime._emitError(error);
      return;
    }
    for (const listener of listeners) this._realtime._call(/** @type {any} */ (listener.onError), error);
  }

  _reset() {
    this._sub = null;
    this._members = [];
    this._listeners.clear();
    this._presenceListeners.clear();
  }
}

/** `client.realtime`: one WebSocket for every subscription and channel of the client. */
export class Realtime {
  /**
   * @param {BaasClient} client
   * @param {ClientOptions} options
   */
  constructor(client, options) {
    this._client = client;
    /** @type {Required<RealtimeOptions>} */
    this._options = { ...DEFAULTS, ...(options.realtime ?? {}) };
    this._WebSocketImpl = options.WebSocket ?? null;
    /** The WebSocket URL, e.g. `wss://api.example.com/api/v1/realtime`. */
    this.url = realtimeUrl(client.baseUrl);
    /** @type {RealtimeState} */
    this._state = 'idle';
    /** @type {any} */
    this._socket = null;
    this._generation = 0;
    this._authed = false;
    this._everOpen = false;
    // The generation whose connection is being made (awaiting the credential), or -1.
    this._connectingGeneration = -1;
    this._paused = false;
    /** @type {string | null} */
    this._usedToken = null;
    this._attempts = 0;
    this._immediateUsed = false;
    this._nextId = 0;
    /** @type {Map<string, SubState>} */
    this._subs = new Map();
    /** @type {Map<string, Channel>} */
    this._channels = new Map();
    /** @type {Map<string, PendingPublish>} */
    this._publishes = new Map();
    /** @type {Array<{text: string, onSent?: () => void}>} */
    this._outbox = [];
    this._allowance = SEND_BURST;
    this._allowanceAt = Date.now();
    this._pingsSent = 0;
    this._pongs = 0;
    this._lastReceived = 0;
    /** @type {any} */ this._retryTimer = null;
    /** @type {any} */ this._advanceTimer = null;
    /** @type {any} */ this._pumpTimer = null;
    /** @type {any} */ this._pingTimer = null;
    /** @type {any} */ this._watchdog = null;
    /** @type {any} */ this._refreshTimer = null;
    /** @type {Set<(state: RealtimeState) => void>} */
    this._stateListeners = new Set();
    /** @type {Set<(error: BaasError) => void>} */
    this._errorListeners = new Set();
    client.auth._listen(() => this._tokensChanged());
  }

  /**
   * `idle` (no connection: nothing subscribed yet, after `close()`, or stopped by an
   * authentication error until the tokens change), `connecting`, `open`, or `reconnecting`
   * (the connection was lost; trying again with backoff).
   * @returns {RealtimeState}
   */
  get state() {
    return this._state;
  }

  /**
   * Follow the connection state; returns a function that stops the callback.
   * @param {(state: RealtimeState) => void} callback
   * @returns {() => void}
   */
  onStateChange(callback) {
    if (typeof callback !== 'function') throw new TypeError('onStateChange: pass a function.');
    this._stateListeners.add(callback);
    return () => { this._stateListeners.delete(callback); };
  }

  /**
   * Errors of the connection rather than of one subscription: the session ended (410
   * `session_ended`, tokens cleared: show the login screen), the credential was refused
   * and could not be refreshed (401 `invalid_token`), a frame too big (413 `too_large`),
   * and subscription errors that have no `onError` of their own. Returns a function that
   * stops the callback.
   * @param {(error: BaasError) => void} callback
   * @returns {() => void}
   */
  onError(callback) {
    if (typeof callback !== 'function') throw new TypeError('onError: pass a function.');
    this._errorListeners.add(callback);
    return () => { this._errorListeners.delete(callback); };
  }

  /**
   * Subscribe to a collection (`posts`), one record (`posts/<id>`) or a channel
   * (`channel:<name>`, see `channel()`). `callback({action, record, token})` gets each
   * create, update and delete you may see (a delete's record is `{id}`), in change-log
   * order; for a channel, `callback({topic, data, from})` gets each message.
   * - `filter`: only records matching this expression (the language of list filters).
   * - `since`: a change token (an earlier `subscription.token` or delta sync's `next`):
   *   the changes after it come first, then live ones.
   * - `onError(error)`: the subscription was refused (a `BaasError`: 400 `invalid_filter`,
   *   401/403, 404 `collection_not_found`; the subscription is over), or 410
   *   `resync_required`: `since` is older than the change log keeps; the subscription
   *   goes on from now without it, so reload the collection (delta sync from scratch).
   * @param {string} topic
   * @param {(event: any) => void} callback
   * @param {SubscribeOptions} [options]
   * @returns {Subscription}
   */
  subscribe(topic, callback, options = {}) {
    if (typeof topic !== 'string' || topic === '') {
      throw new TypeError('subscribe: pass a topic: "posts", "posts/<id>" or "channel:<name>".');
    }
    if (typeof callback !== 'function') throw new TypeError('subscribe: pass a callback.');
    if (topic.startsWith(CHANNEL_PREFIX)) {
      return this.channel(topic.slice(CHANNEL_PREFIX.length)).subscribe(callback, options);
    }
    this._impl();
    const state = this._addSub({
      topic,
      filter: options.filter ?? null,
      since: options.since ?? null,
      onFrame: (frame) => callback({ action: frame.action, record: frame.record, token: frame.token }),
      onError: options.onError ?? null,
      channel: null,
    });
    return new Subscription(state, () => this._removeSub(state));
  }

  /**
   * The channel `name` (the same object for the same name): `subscribe(onMessage)`,
   * `publish(data)`, `members`, `onPresence(callback)`.
   * @param {string} name
   * @returns {Channel}
   */
  channel(name) {
    if (typeof name !== 'string' || name === '') throw new TypeError('channel: pass a name.');
    this._impl();
    let channel = this._channels.get(name);
    if (!channel) {
      channel = new Channel(this, name);
      this._channels.set(name, channel);
    }
    return channel;
  }

  /**
   * Close the connection and end every subscription and channel listener; publishes
   * waiting for their answer reject. Subscribing again opens a new connection.
   */
  close() {
    this._generation += 1;
    this._clearRetry();
    const closed = failure('realtime_closed', 'client.realtime.close() was called.');
    for (const pending of this._publishes.values()) pending.reject(closed);
    this._publishes.clear();
    const socket = this._socket;
    this._teardown();
    if (socket) this._discard(socket, 1000);
    for (const sub of this._subs.values()) this._settle(sub);
    this._subs.clear();
    for (const channel of this._channels.values()) channel._reset();
    this._succeeded();
    this._paused = false;
    this._everOpen = false;
    this._setState('idle');
  }

  // --- subscriptions ------------------------------------------------------------------

  /**
   * @param {{topic: string, filter: string | null, since: string | null,
   *   onFrame: (frame: any) => void, onError: ((error: BaasError) => void) | null,
   *   channel: Channel | null}} spec
   * @returns {SubState}
   */
  _addSub(spec) {
    this._nextId += 1;
    /** @type {SubState} */
    const state = {
      id: `s${this._nextId}`,
      topic: spec.topic,
      filter: spec.filter,
      token: spec.since,
      ackToken: null,
      advanceAt: 0,
      sent: false,
      resumed: false,
      onFrame: spec.onFrame,
      onError: spec.onError,
      ready: deferred(),
      settled: false,
      channel: spec.channel,
    };
    this._subs.set(state.id, state);
    if (this._authed) this._sendSubscribe(state);
    else this._ensureConnected();
    return state;
  }

  /** @param {SubState} state */
  _removeSub(state) {
    if (this._subs.get(state.id) !== state) return;
    this._subs.delete(state.id);
    this._settle(state);
    if (state.sent && this._authed) this._send({ type: 'unsubscribe', id: state.id });
  }

  /** @param {SubState} state */
  _sendSubscribe(state) {
    /** @type {Record<string, unknown>} */
    const frame = { type: 'subscribe', id: state.id, topic: state.topic };
    if (state.filter) frame.filter = state.filter;
    state.resumed = state.token !== null && !state.channel;
    if (state.resumed) frame.since = state.token;
    state.sent = true;
    state.ackToken = null;
    this._send(frame);
  }

  /**
   * @param {SubState} state
   * @param {BaasError} [error]
   */
  _settle(state, error) {
    if (state.settled) return;
    state.settled = true;
    if (error) state.ready.reject(error);
    else state.ready.resolve();
  }

  /**
   * @param {string} topic
   * @param {unknown} data
   * @returns {Promise<void>}
   */
  _publish(topic, data) {
    return new Promise((resolve, reject) => {
      this._nextId += 1;
      const id = `p${this._nextId}`;
      const text = JSON.stringify({ type: 'publish', id, topic, data });
      if (text === undefined) {
        reject(new TypeError('publish: data must be a JSON value.'));
        return;
      }
      this._publishes.set(id, { text, sent: false, resolve, reject });
      if (this._authed) this._sendPublish(id);
      else this._ensureConnected();
    });
  }

  /** @param {string} id */
  _sendPublish(id) {
    const pending = this._publishes.get(id);
    if (!pending || pending.sent) return;
    this._outbox.push({ text: pending.text, onSent: () => { pending.sent = true; } });
    this._pump();
  }

  // --- the connection -----------------------------------------------------------------

  /** @returns {any} the WebSocket constructor */
  _impl() {
    const impl = this._WebSocketImpl ?? /** @type {any} */ (globalThis).WebSocket;
    if (typeof impl !== 'function') {
      throw new TypeError(
        'client.realtime: no global WebSocket here (Node < 22); pass one: createClient({ WebSocket }).',
      );
    }
    return impl;
  }

  _wanted() {
    return this._subs.size > 0 || this._publishes.size > 0;
  }

  _ensureConnected() {
    if (this._socket || this._retryTimer || this._connecting() || this._paused) return;
    if (this._wanted()) this._connect();
  }

  /** Give up the current connection (or the wait for one) and connect again at once. */
  _reconnectNow() {
    this._clearRetry();
    const socket = this._socket;
    if (socket) {
      this._teardown();
      this._discard(socket, 1000);
    }
    this._paused = false;
    this._connect();
  }

  /** True while a connection is being made (its credential awaited). */
  _connecting() {
    return this._connectingGeneration === this._generation;
  }

  async _connect() {
    this._generation += 1;
    const generation = this._generation;
    this._clearRetry();
    if (!this._wanted()) {
      this._setState('idle');
      return;
    }
    this._setState(this._everOpen ? 'reconnecting' : 'connecting');
    this._connectingGeneration = generation;
    try {
      await this._credential();
    } catch {
      // Connect with what there is; a refused token is handled on close (4001).
    }
    if (generation !== this._generation) return;
    this._connectingGeneration = -1;
    const token = this._client._bearer();
    /** @type {any} */
    let socket;
    try {
      const Impl = this._impl();
      socket = new Impl(this.url);
    } catch (error) {
      this._emitError(error instanceof BaasError ? error : failure(
        'network_error', error instanceof Error ? error.message : String(error),
      ));
      this._scheduleReconnect(false);
      return;
    }
    this._socket = socket;
    this._usedToken = token;
    this._authed = false;
    this._outbox = [];
    this._allowance = SEND_BURST;
    this._allowanceAt = Date.now();
    this._pingsSent = 0;
    this._pongs = 0;
    this._lastReceived = Date.now();
    socket.onopen = () => this._opened(socket);
    socket.onmessage = (/** @type {any} */ event) => this._received(socket, event.data);
    socket.onclose = (/** @type {any} */ event) => this._closed(socket, event?.code ?? 1006);
    // An error ends the connection (abnormally, 1006); its close event, if one comes, is
    // then ignored. Node's built-in WebSocket (undici) fires none after a failed handshake.
    socket.onerror = () => {
      if (socket !== this._socket) return;
      this._closed(socket, 1006);
      this._discard(socket, 1000);
    };
    // Neither open nor refused (a silent network): try again.
    this._watchdog = setTimeout(() => {
      if (this._socket === socket && !this._authed) this._lost(socket, false);
    }, this._options.pingTimeout);
  }

  /** Refresh an access token that expires within a minute before using it. */
  async _credential() {
    const auth = this._client.auth;
    await auth.ready();
    if (auth.refreshToken) await auth._liveAccessToken();
  }

  /** @param {any} socket */
  _opened(socket) {
    if (socket !== this._socket) return;
    if (this._usedToken) {
      this._send({ type: 'auth', token: this._usedToken });
    } else {
      this._ready();
    }
  }

  /** Signed in (or anonymous): (re)subscribe everything, send what waited, start the heartbeat. */
  _ready() {
    this._authed = true;
    this._everOpen = true;
    clearTimeout(this._watchdog);
    this._watchdog = null;
    this._setState('open');
    for (const sub of this._subs.values()) this._sendSubscribe(sub);
    for (const id of this._publishes.keys()) this._sendPublish(id);
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => this._heartbeat(), this._options.pingInterval);
  }

  _heartbeat() {
    const socket = this._socket;
    if (!socket || !this._authed || this._watchdog) return; // the last ping is still out
    const sentAt = Date.now();
    this._ping();
    this._watchdog = setTimeout(() => {
      this._watchdog = null;
      if (this._socket === socket && this._lastReceived < sentAt) this._lost(socket, false);
    }, this._options.pingTimeout);
  }

  _ping() {
    this._pingsSent += 1;
    this._send({ type: 'ping' });
  }

  /**
   * @param {any} socket
   * @param {unknown} data
   */
  _received(socket, data) {
    if (socket !== this._socket) return;
    this._lastReceived = Date.now();
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    switch (frame.type) {
      case 'authenticated':
        this._authenticated(frame);
        break;
      case 'subscribed':
        this._subscribed(frame);
        break;
      case 'event': {
        const sub = this._subs.get(frame.sub);
        if (!sub) break;
        if (typeof frame.token === 'string') {
          sub.token = frame.token;
          sub.ackToken = null;
        }
        this._call(sub.onFrame, frame);
        break;
      }
      case 'message': {
        const channel = this._channelOf(frame.topic);
        if (channel) channel._message(frame);
        break;
      }
      case 'presence': {
        const channel = this._channelOf(frame.topic);
        if (channel) channel._presenceFrame(frame);
        break;
      }
      case 'published': {
        const pending = this._publishes.get(frame.id);
        if (pending) {
          this._publishes.delete(frame.id);
          this._succeeded();
          pending.resolve();
        }
        break;
      }
      case 'pong':
        this._pongs += 1;
        for (const sub of this._subs.values()) {
          if (sub.ackToken !== null && this._pongs >= sub.advanceAt) {
            sub.token = sub.ackToken;
            sub.ackToken = null;
          }
        }
        break;
      case 'error':
        this._errorFrame(frame);
        break;
      default:
        break;
    }
  }

  /** @param {unknown} topic */
  _channelOf(topic) {
    if (typeof topic !== 'string' || !topic.startsWith(CHANNEL_PREFIX)) return null;
    const channel = this._channels.get(topic.slice(CHANNEL_PREFIX.length));
    return channel && channel._sub ? channel : null;
  }

  /** The connection works: the next loss backs off from the start. */
  _succeeded() {
    this._attempts = 0;
    this._immediateUsed = false;
  }

  /** @param {any} frame */
  _authenticated(frame) {
    this._scheduleRefresh(typeof frame.expires === 'number' ? frame.expires : null);
    if (!this._authed) this._ready();
  }

  /** @param {any} frame */
  _subscribed(frame) {
    const sub = this._subs.get(frame.id);
    if (!sub) return;
    this._succeeded();
    if (sub.channel) {
      sub.channel._synced(frame.members);
    } else if (typeof frame.token === 'string') {
      if (!sub.resumed) {
        sub.token = frame.token;
      } else {
        // The missed changes follow this answer. Its token (the live position) becomes
        // the resume point only once a pong shows they all arrived: a connection lost
        // half way through the replay resumes from the last event instead.
        // One ping answers for every acknowledgement of the next 50 ms.
        sub.ackToken = frame.token;
        sub.advanceAt = this._pingsSent + 1;
        if (!this._advanceTimer) {
          this._advanceTimer = setTimeout(() => {
            this._advanceTimer = null;
            if (this._authed) this._ping();
          }, 50);
        }
      }
    }
    this._settle(sub);
  }

  /** @param {any} frame */
  _errorFrame(frame) {
    const status = typeof frame.status === 'number' ? frame.status : 400;
    const error = errorFromResponse(status, frame, {});
    const id = typeof frame.id === 'string' ? frame.id : null;
    const sub = id === null ? undefined : this._subs.get(id);
    if (sub) {
      if (status === 410 && error.code === 'resync_required' && sub.token !== null) {
        // Too old to resume: tell the app (reload the data), go on from now.
        sub.token = null;
        this._report(sub, error);
        if (this._subs.get(sub.id) === sub && this._authed) this._sendSubscribe(sub);
        return;
      }
      this._subs.delete(sub.id);
      this._settle(sub, error);
      this._report(sub, error);
      return;
    }
    const pending = id === null ? undefined : this._publishes.get(id);
    if (pending) {
      this._publishes.delete(/** @type {string} */ (id));
      pending.reject(error);
      return;
    }
    if (id !== null) return; // the answer to a subscription ended meanwhile
    // A refused token (401) and too many connections (429) are followed by a close code.
    if (status === 401 || status === 429) return;
    this._emitError(error);
  }

  /**
   * @param {SubState} sub
   * @param {BaasError} error
   */
  _report(sub, error) {
    if (sub.onError) this._call(sub.onError, error);
    else this._emitError(error);
  }

  /**
   * @param {any} socket
   * @param {number} code
   */
  _closed(socket, code) {
    if (socket !== this._socket) return;
    const usedToken = this._usedToken;
    this._teardown();
    this._setState(this._everOpen ? 'reconnecting' : 'connecting');
    if (code === AUTH_EXPIRED) {
      this._recoverAuth(usedToken);
    } else if (code === SESSION_ENDED) {
      this._sessionEnded(usedToken);
    } else {
      if (code === TOO_BIG) {
        this._emitError(failure('too_large', 'A frame was over the server\'s size limit.', 413));
      }
      // Going away (another process answers) and a slow consumer resume at once; any
      // other loss backs off.
      this._scheduleReconnect(code === GOING_AWAY || code === SLOW_CONSUMER);
    }
  }

  /**
   * Drop a connection that went silent and try again.
   * @param {any} socket
   * @param {boolean} immediate
   */
  _lost(socket, immediate) {
    if (socket !== this._socket) return;
    this._teardown();
    this._discard(socket, 1000);
    this._scheduleReconnect(immediate);
  }

  /**
   * Close a socket we no longer listen to.
   * @param {any} socket
   * @param {number} code
   */
  _discard(socket, code) {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
    try {
      socket.close(code);
    } catch {
      // Already closed.
    }
  }

  /** Forget the current connection: timers, queued frames, unanswered publishes. */
  _teardown() {
    this._socket = null;
    this._authed = false;
    this._outbox = [];
    clearTimeout(this._pumpTimer);
    clearInterval(this._pingTimer);
    clearTimeout(this._watchdog);
    clearTimeout(this._refreshTimer);
    clearTimeout(this._advanceTimer);
    this._advanceTimer = null;
    this._pumpTimer = null;
    this._pingTimer = null;
    this._watchdog = null;
    this._refreshTimer = null;
    for (const sub of this._subs.values()) {
      sub.sent = false;
      sub.ackToken = null;
    }
    const lost = failure('network_error', 'The realtime connection was lost before the answer.');
    for (const [id, pending] of this._publishes) {
      if (pending.sent) {
        this._publishes.delete(id);
        pending.reject(lost);
      }
    }
  }

  /** @param {boolean} immediate */
  _scheduleReconnect(immediate) {
    this._clearRetry();
    if (!this._wanted()) {
      this._setState('idle');
      return;
    }
    const { reconnectMin, reconnectMax } = this._options;
    let delay = 0;
    if (immediate && this._attempts === 0 && !this._immediateUsed) {
      // Once between two successes: a server that keeps closing backs off like any other.
      this._immediateUsed = true;
    } else {
      const base = Math.min(reconnectMax, reconnectMin * 2 ** Math.min(this._attempts, 30));
      delay = base / 2 + Math.random() * (base / 2); // jitter: half to all of it
      this._attempts += 1;
    }
    this._setState(this._everOpen ? 'reconnecting' : 'connecting');
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._connect();
    }, delay);
  }

  _clearRetry() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  // --- credentials ----------------------------------------------------------------------

  /**
   * Re-send `auth` a little before the access token expires (refreshing it first).
   * @param {number | null} expires epoch seconds
   */
  _scheduleRefresh(expires) {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    const auth = this._client.auth;
    if (expires === null || !auth.refreshToken || this._usedToken !== auth.accessToken) return;
    const left = expires * 1000 - Date.now();
    // Not sooner than a second: a clock far ahead of the server's must not refresh in a loop.
    const delay = Math.max(1000, left - this._options.refreshBefore, left / 2);
    const socket = this._socket;
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      if (socket !== this._socket) return;
      // The new token reaches the connection through _tokensChanged. If the refresh
      // fails, the server closes with 4001 at expiry and that is recovered from.
      auth.refresh().catch(() => {});
    }, delay);
  }

  /** The client's tokens changed (login, refresh, logout): follow them. */
  _tokensChanged() {
    if (this._paused) {
      this._paused = false;
      if (this._wanted()) this._reconnectNow();
      return;
    }
    if (!this._wanted() || this._connecting()) return; // a connection in the making reads them
    const bearer = this._client._bearer();
    if (!this._socket && this._retryTimer) {
      this._reconnectNow();
      return;
    }
    if (!this._socket || bearer === this._usedToken) return;
    if (bearer !== null && this._authed && this._socket.readyState === OPEN) {
      // Same connection, new identity between two events.
      this._usedToken = bearer;
      this._send({ type: 'auth', token: bearer });
      return;
    }
    // Signed out (there is no "sign out" frame), or not yet open: start afresh.
    this._reconnectNow();
  }

  /**
   * Close 4001: the token was invalid or expired. Refresh it (the REST calls' logic) and
   * reconnect; without a usable refresh token, report it and wait for new tokens.
   * @param {string | null} usedToken
   */
  async _recoverAuth(usedToken) {
    const auth = this._client.auth;
    const generation = this._generation;
    const refused = failure(
      'invalid_token', 'The realtime connection\'s credential was refused; sign in again.', 401,
    );
    if (this._client._bearer() !== usedToken) {
      this._scheduleReconnect(true); // the tokens changed meanwhile
      return;
    }
    if (usedToken === null || usedToken === this._client.apiKey || !auth.refreshToken) {
      this._pause(refused);
      return;
    }
    let recovered;
    try {
      // True after a refresh; false when the server refused the refresh token (the tokens
      // are cleared then, and _tokensChanged reconnects anonymously).
      recovered = await auth._recoverFrom401(usedToken);
    } catch {
      if (generation === this._generation && !this._socket) this._scheduleReconnect(false);
      return;
    }
    if (!recovered) this._emitError(refused);
    if (generation === this._generation && !this._socket && !this._retryTimer) {
      this._scheduleReconnect(true);
    }
  }

  /**
   * Close 4003: the device session ended (logout elsewhere, password change,
   * deactivation). Like REST's 410 `session_ended`: forget the tokens (the connection
   * goes on anonymously) and tell the app.
   * @param {string | null} usedToken
   */
  async _sessionEnded(usedToken) {
    const auth = this._client.auth;
    const ended = failure('session_ended', 'This device session has ended; sign in again.', 410);
    const generation = this._generation;
    if (auth._loggingOut) {
      // This client's own logout(): nothing to report; go on once the tokens are gone.
      await auth._loggingOut.catch(() => {});
      if (generation === this._generation && !this._socket && !this._retryTimer) {
        this._scheduleReconnect(true);
      }
      return;
    }
    if (usedToken !== null && usedToken === auth.accessToken) {
      await auth.clear();
      if (generation === this._generation && !this._socket && !this._retryTimer) {
        this._scheduleReconnect(true);
      }
      this._emitError(ended);
    } else if (this._client._bearer() !== usedToken) {
      this._scheduleReconnect(true);
    } else {
      this._pause(ended);
    }
  }

  /**
   * Stop until the tokens change: reconnecting with the same credential would be refused
   * again.
   * @param {BaasError} error
   */
  _pause(error) {
    this._paused = true;
    this._clearRetry();
    this._setState('idle');
    this._emitError(error);
  }

  // --- sending --------------------------------------------------------------------------

  /** @param {Record<string, unknown>} frame */
  _send(frame) {
    if (!this._socket) return;
    this._outbox.push({ text: JSON.stringify(frame) });
    this._pump();
  }

  /** @param {string} text */
  _sendNow(text) {
    try {
      this._socket.send(text);
    } catch {
      // The close event follows.
    }
  }

  /** Send what the rate allows now; the rest a little later. */
  _pump() {
    const socket = this._socket;
    if (!socket || socket.readyState !== OPEN) return;
    const now = Date.now();
    this._allowance = Math.min(SEND_BURST, this._allowance + ((now - this._allowanceAt) / 1000) * SEND_RATE);
    this._allowanceAt = now;
    while (this._outbox.length > 0 && this._allowance >= 1) {
      const item = /** @type {{text: string, onSent?: () => void}} */ (this._outbox.shift());
      this._allowance -= 1;
      this._sendNow(item.text);
      if (item.onSent) item.onSent();
    }
    if (this._outbox.length > 0 && !this._pumpTimer) {
      const wait = Math.ceil(((1 - this._allowance) / SEND_RATE) * 1000);
      this._pumpTimer = setTimeout(() => {
        this._pumpTimer = null;
        this._pump();
      }, wait);
    }
  }

  // --- callbacks --------------------------------------------------------------------------

  /** @param {RealtimeState} state */
  _setState(state) {
    if (state === this._state) return;
    this._state = state;
    for (const listener of [...this._stateListeners]) this._call(listener, state);
  }

  /** @param {BaasError} error */
  _emitError(error) {
    if (this._errorListeners.size === 0) {
      console.error('client.realtime:', error);
      return;
    }
    for (const listener of [...this._errorListeners]) this._call(listener, error);
  }

  /**
   * Run an app callback; what it throws does not stop the connection.
   * @param {(arg: any) => void} callback
   * @param {unknown} arg
   */
  _call(callback, arg) {
    try {
      callback(arg);
    } catch (error) {
      // Reported like an uncaught error in an event handler, without breaking the loop.
      setTimeout(() => { throw error; });
    }
  }
}
