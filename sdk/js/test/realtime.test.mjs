// Without a server: a scripted WebSocket checks what client.realtime sends and how it reacts
// to frames, close codes, silence and token changes (the live suite is realtime-live.test.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BaasError, createClient } from '../index.js';

/** A WebSocket class whose instances the test drives; `sockets` lists them in order. */
function fakeWebSocket() {
  /** @type {any[]} */
  const sockets = [];
  class FakeSocket {
    /** @param {string} url */
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      /** @type {any[]} */
      this.sent = [];
      /** @type {number | null} */
      this.closedWith = null;
      this.createdAt = Date.now();
      /** @type {any} */ this.onopen = null;
      /** @type {any} */ this.onmessage = null;
      /** @type {any} */ this.onclose = null;
      /** @type {any} */ this.onerror = null;
      sockets.push(this);
    }

    /** @param {string} text */
    send(text) {
      assert.equal(this.readyState, 1, 'sent on a socket that is not open');
      this.sent.push(JSON.parse(text));
    }

    /** @param {number} [code] */
    close(code) {
      this.readyState = 3;
      this.closedWith = code ?? 1005;
    }

    // --- the server's side ---
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }

    /** @param {any} frame */
    receive(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }

    /** @param {number} code */
    serverClose(code) {
      this.readyState = 3;
      this.onclose?.({ code });
    }

    /** @param {string} type */
    frames(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return { WebSocket: FakeSocket, sockets };
}

/** Wait until `check()` is truthy (polling), or fail after `ms`. */
async function until(check, ms = 2000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 3));
  }
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** An unsigned JWT with this `exp` (the client only reads it). */
function jwt(exp, sub = 'u1') {
  const part = (/** @type {object} */ o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp, sub, n: Math.random() })}.sig`;
}

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

/** A fetch that answers token refreshes with new tokens, counting them. */
function refreshFetch({ refuse = false } = {}) {
  const calls = { refresh: 0 };
  /** @type {typeof fetch} */
  const fetchImpl = async (input) => {
    const url = new URL(String(input));
    if (url.pathname === '/api/v1/tokens/refresh') {
      calls.refresh += 1;
      if (refuse) {
        return new Response(JSON.stringify({ status: 401, errors: [{ code: 'invalid_token', message: 'no' }] }), { status: 401 });
      }
      const body = { data: { access_token: jwt(inAnHour()), refresh_token: `refresh-${calls.refresh + 1}` } };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    }
    return new Response('{}', { status: 404 });
  };
  return { fetch: fetchImpl, calls };
}

const FAST = { reconnectMin: 20, reconnectMax: 80, pingInterval: 60_000, pingTimeout: 60_000 };

/** A client with the fake socket; `connected()` opens the next socket (and signs in). */
function setup(options = {}) {
  const fake = fakeWebSocket();
  const client = createClient({
    baseUrl: 'https://api.example.com',
    WebSocket: /** @type {any} */ (fake.WebSocket),
    realtime: FAST,
    ...options,
  });
  /** The newest socket, once made, opened and (with a token) authenticated. */
  async function connected(index = fake.sockets.length) {
    const socket = await until(() => fake.sockets[index], 2000, `socket #${index}`);
    socket.open();
    const auth = socket.frames('auth');
    if (auth.length > 0) socket.receive({ type: 'authenticated', user: 'u1', expires: null });
    return socket;
  }
  return { client, sockets: fake.sockets, connected };
}

test('the connection opens on the first subscription, at the API URL as ws(s)://', async () => {
  const { client, sockets, connected } = setup();
  assert.equal(client.realtime.url, 'wss://api.example.com/api/v1/realtime');
  assert.equal(createClient({ baseUrl: 'http://h:8000/api/v1' }).realtime.url, 'ws://h:8000/api/v1/realtime');
  await sleep(5);
  assert.equal(sockets.length, 0);
  const states = [];
  client.realtime.onStateChange((s) => states.push(s));
  const seen = [];
  const sub = client.realtime.subscribe('posts', (e) => seen.push(e), { filter: "status = 'open'" });
  const socket = await connected();
  assert.equal(socket.url, 'wss://api.example.com/api/v1/realtime');
  // Anonymous: no auth frame, the subscription at once.
  assert.deepEqual(socket.sent, [{ type: 'subscribe', id: 's1', topic: 'posts', filter: "status = 'open'" }]);
  socket.receive({ type: 'subscribed', id: 's1', token: 't0' });
  await sub.ready;
  assert.equal(sub.token, 't0');
  socket.receive({ type: 'event', sub: 's1', action: 'create', record: { id: 'a' }, token: 't1' });
  socket.receive({ type: 'event', sub: 's1', action: 'delete', record: { id: 'a' }, token: 't2' });
  assert.deepEqual(seen, [
    { action: 'create', record: { id: 'a' }, token: 't1' },
    { action: 'delete', record: { id: 'a' }, token: 't2' },
  ]);
  assert.equal(sub.token, 't2');
  assert.deepEqual(states, ['connecting', 'open']);
  sub.unsubscribe();
  sub.unsubscribe();
  assert.deepEqual(socket.frames('unsubscribe'), [{ type: 'unsubscribe', id: 's1' }]);
  socket.receive({ type: 'event', sub: 's1', action: 'update', record: { id: 'b' }, token: 't3' });
  assert.equal(seen.length, 2);
  client.realtime.close();
  assert.equal(socket.closedWith, 1000);
  assert.equal(client.realtime.state, 'idle');
});

test('a collection subscribes to itself or to one record', async () => {
  const { client, connected } = setup();
  const posts = client.collection('posts');
  posts.subscribe(() => {}, { recordId: 'abc', filter: 'x = 1', since: 'tok' });
  posts.subscribe(() => {});
  const socket = await connected();
  assert.deepEqual(socket.frames('subscribe'), [
    { type: 'subscribe', id: 's1', topic: 'posts/abc', filter: 'x = 1', since: 'tok' },
    { type: 'subscribe', id: 's2', topic: 'posts' },
  ]);
  client.realtime.close();
});

test('signed in, the first frame is auth and subscriptions wait for the answer', async () => {
  const token = jwt(inAnHour());
  const { client, sockets } = setup({ token, refreshToken: 'r1' });
  client.realtime.subscribe('posts', () => {});
  const socket = await until(() => sockets[0]);
  socket.open();
  await until(() => socket.sent.length > 0);
  assert.deepEqual(socket.sent, [{ type: 'auth', token }]);
  await sleep(5);
  assert.equal(socket.sent.length, 1);
  socket.receive({ type: 'authenticated', user: 'u1', expires: inAnHour() });
  assert.deepEqual(socket.sent[1], { type: 'subscribe', id: 's1', topic: 'posts' });
  client.realtime.close();
});

test('after a lost connection every subscription resumes: records from their token, channels without', async () => {
  const { client, sockets, connected } = setup();
  const seen = [];
  const posts = client.realtime.subscribe('posts', (e) => seen.push(e.token));
  const quiet = client.realtime.subscribe('notes', () => {});
  const room = client.realtime.channel('room-1').subscribe(() => {});
  let socket = await connected();
  socket.receive({ type: 'subscribed', id: 's1', token: 'p0' });
  socket.receive({ type: 'subscribed', id: 's2', token: 'n0' });
  socket.receive({ type: 'subscribed', id: 's3' });
  socket.receive({ type: 'event', sub: 's1', action: 'create', record: { id: 'a' }, token: 'p1' });
  socket.serverClose(1006);
  assert.equal(client.realtime.state, 'reconnecting');
  socket = await connected(1);
  assert.deepEqual(socket.frames('subscribe'), [
    { type: 'subscribe', id: 's1', topic: 'posts', since: 'p1' },
    { type: 'subscribe', id: 's2', topic: 'notes', since: 'n0' },
    { type: 'subscribe', id: 's3', topic: 'channel:room-1' },
  ]);
  // The missed change comes after the ack; the ack's token waits for a pong.
  socket.receive({ type: 'subscribed', id: 's1', token: 'p9' });
  socket.receive({ type: 'event', sub: 's1', action: 'update', record: { id: 'a' }, token: 'p2' });
  socket.receive({ type: 'subscribed', id: 's2', token: 'n9' });
  assert.equal(posts.token, 'p2');
  assert.equal(quiet.token, 'n0');
  await until(() => socket.frames('ping').length === 1, 1000, 'a ping after the resumed acks');
  socket.receive({ type: 'pong' });
  assert.equal(quiet.token, 'n9', 'no event came: the ack token is the resume point now');
  assert.equal(posts.token, 'p2', 'an event came: its token stays');
  assert.deepEqual(seen, ['p1', 'p2']);
  assert.equal(room.token, null);
  client.realtime.close();
});

test('going away reconnects at once; other losses back off exponentially, with jitter', async () => {
  const { client, sockets, connected } = setup({ realtime: { ...FAST, reconnectMin: 40, reconnectMax: 160 } });
  client.realtime.subscribe('posts', () => {});
  let socket = await connected(0);
  let lostAt = Date.now();
  socket.serverClose(1001);
  socket = await until(() => sockets[1]);
  assert.ok(socket.createdAt - lostAt < 30, `1001 waited ${socket.createdAt - lostAt} ms`);
  // The server stays down: each attempt fails; delays ~ 40, 80, 160, 160 (half to full).
  const delays = [];
  for (let i = 1; i <= 4; i += 1) {
    lostAt = Date.now();
    sockets[i].serverClose(1006);
    const next = await until(() => sockets[i + 1], 2000, `attempt ${i + 1}`);
    delays.push(next.createdAt - lostAt);
  }
  const bases = [40, 80, 160, 160];
  delays.forEach((d, i) => {
    assert.ok(d >= bases[i] / 2 - 2 && d <= bases[i] + 40, `attempt ${i + 2}: ${d} ms (base ${bases[i]})`);
  });
  // A subscription acknowledged: the next loss starts from the shortest delay again.
  socket = await connected(5);
  socket.receive({ type: 'subscribed', id: 's1', token: 't' });
  lostAt = Date.now();
  socket.serverClose(1011);
  const again = await until(() => sockets[6]);
  assert.ok(again.createdAt - lostAt <= 40 + 30, `after success: ${again.createdAt - lostAt} ms`);
  client.realtime.close();
});

test('an error event ends the connection even when no close event follows', async () => {
  const { client, sockets, connected } = setup();
  client.realtime.subscribe('posts', () => {});
  const first = await until(() => sockets[0]);
  first.onerror?.({}); // a failed handshake: Node's WebSocket fires no close event after it
  assert.equal(first.closedWith, 1000);
  const socket = await connected(1);
  assert.deepEqual(socket.frames('subscribe').map((f) => f.topic), ['posts']);
  socket.onerror?.({});
  socket.serverClose(1006); // a close after the error changes nothing
  await until(() => sockets[2]);
  await sleep(100);
  assert.equal(sockets.length, 3);
  client.realtime.close();
});

test('a silent connection is dropped after a ping goes unanswered, then reconnected', async () => {
  const { client, sockets, connected } = setup({
    realtime: { ...FAST, pingInterval: 30, pingTimeout: 40 },
  });
  client.realtime.subscribe('posts', () => {});
  const socket = await connected();
  socket.receive({ type: 'subscribed', id: 's1', token: 't' });
  // Answered pings keep it.
  for (let i = 1; i <= 2; i += 1) {
    await until(() => socket.frames('ping').length === i, 1000, `ping ${i}`);
    socket.receive({ type: 'pong' });
  }
  assert.equal(sockets.length, 1);
  // Then silence.
  await until(() => sockets.length === 2, 1000, 'a new socket after the missed pong');
  assert.equal(socket.closedWith, 1000);
  client.realtime.close();
});

test('a resume point too old (410 resync_required) reaches onError; the subscription goes on without it', async () => {
  const { client, connected } = setup();
  const errors = [];
  const seen = [];
  const sub = client.realtime.subscribe('posts', (e) => seen.push(e.token), {
    since: 'ancient',
    onError: (error) => errors.push(error),
  });
  const socket = await connected();
  assert.equal(socket.frames('subscribe')[0].since, 'ancient');
  socket.receive({
    type: 'error', id: 's1', status: 410,
    errors: [{ code: 'resync_required', message: 'too old', param: 'since' }],
  });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof BaasError);
  assert.equal(errors[0].status, 410);
  assert.equal(errors[0].code, 'resync_required');
  assert.deepEqual(socket.frames('subscribe')[1], { type: 'subscribe', id: 's1', topic: 'posts' });
  socket.receive({ type: 'subscribed', id: 's1', token: 'now' });
  await sub.ready;
  socket.receive({ type: 'event', sub: 's1', action: 'create', record: { id: 'a' }, token: 'n1' });
  assert.deepEqual(seen, ['n1']);
  client.realtime.close();
});

test('a refused subscription rejects ready, calls onError, and is not resubscribed', async () => {
  const { client, connected } = setup();
  const errors = [];
  const sub = client.realtime.subscribe('secret', () => {}, { onError: (e) => errors.push(e) });
  const unhandled = [];
  client.realtime.onError((e) => unhandled.push(e));
  const plain = client.realtime.subscribe('missing', () => {});
  let socket = await connected();
  socket.receive({ type: 'error', id: 's1', status: 403, errors: [{ code: 'forbidden', message: 'no' }] });
  socket.receive({ type: 'error', id: 's2', status: 404, errors: [{ code: 'collection_not_found', message: 'no' }] });
  await assert.rejects(sub.ready, (e) => e instanceof BaasError && e.status === 403);
  assert.equal(errors.length, 1);
  assert.deepEqual(unhandled.map((e) => e.code), ['collection_not_found']);
  client.realtime.subscribe('posts', () => {});
  socket.serverClose(1006);
  socket = await connected(1);
  assert.deepEqual(socket.frames('subscribe').map((f) => f.topic), ['posts']);
  client.realtime.close();
});

test('channels: members, presence, messages, and publish answered or refused', async () => {
  const { client, sockets, connected } = setup();
  const room = client.realtime.channel('room-1');
  assert.equal(client.realtime.channel('room-1'), room);
  const messages = [];
  const presence = [];
  room.subscribe((m) => messages.push(m));
  room.onPresence((p) => presence.push(p));
  const queued = room.publish({ text: 'early' }); // before the connection is open
  const socket = await connected();
  assert.deepEqual(socket.sent, [
    { type: 'subscribe', id: 's1', topic: 'channel:room-1' },
    { type: 'publish', id: 'p2', topic: 'channel:room-1', data: { text: 'early' } },
  ]);
  socket.receive({ type: 'subscribed', id: 's1', members: ['u1', 'u2'] });
  assert.deepEqual(room.members, ['u1', 'u2']);
  socket.receive({ type: 'published', id: 'p2' });
  await queued;
  socket.receive({ type: 'presence', topic: 'channel:room-1', action: 'join', user: 'u3' });
  socket.receive({ type: 'presence', topic: 'channel:room-1', action: 'leave', user: 'u1' });
  assert.deepEqual(room.members, ['u2', 'u3']);
  assert.deepEqual(presence, [
    { action: 'sync', user: null, members: ['u1', 'u2'] },
    { action: 'join', user: 'u3', members: ['u1', 'u2', 'u3'] },
    { action: 'leave', user: 'u1', members: ['u2', 'u3'] },
  ]);
  socket.receive({ type: 'message', topic: 'channel:room-1', data: { text: 'hi' }, from: 'u2' });
  socket.receive({ type: 'message', topic: 'channel:other', data: 'not ours', from: 'u2' });
  assert.deepEqual(messages, [{ topic: 'channel:room-1', data: { text: 'hi' }, from: 'u2' }]);

  const refused = room.publish('x');
  await until(() => socket.frames('publish').length === 2);
  socket.receive({ type: 'error', id: 'p3', status: 403, errors: [{ code: 'forbidden', message: 'no' }] });
  await assert.rejects(refused, (e) => e instanceof BaasError && e.status === 403);

  // A publish in flight when the connection drops rejects (it may or may not have arrived).
  const lost = room.publish('y');
  await until(() => socket.frames('publish').length === 3);
  socket.serverClose(1006);
  await assert.rejects(lost, (e) => e instanceof BaasError && e.code === 'network_error');
  const next = await connected(1);
  assert.deepEqual(next.frames('subscribe'), [{ type: 'subscribe', id: 's1', topic: 'channel:room-1' }]);
  assert.equal(next.frames('publish').length, 0);
  const pending = room.publish('z');
  client.realtime.close();
  await assert.rejects(pending, (e) => e.code === 'realtime_closed');
  assert.equal(sockets.length, 2);
});

test('a refused channel ends its listeners with the error', async () => {
  const { client, connected } = setup();
  const errors = [];
  const sub = client.realtime.subscribe('channel:nope', () => {}, { onError: (e) => errors.push(e.code) });
  const socket = await connected();
  socket.receive({ type: 'error', id: 's1', status: 404, errors: [{ code: 'channel_not_found', message: 'no', param: 'topic' }] });
  await assert.rejects(sub.ready);
  assert.deepEqual(errors, ['channel_not_found']);
  assert.deepEqual(client.realtime.channel('nope').members, []);
  client.realtime.close();
});

test('login sends auth on the open connection; logout reconnects anonymously', async () => {
  const { client, sockets, connected } = setup();
  client.realtime.subscribe('posts', () => {});
  const socket = await connected();
  socket.receive({ type: 'subscribed', id: 's1', token: 't1' });
  const token = jwt(inAnHour());
  await client.auth.setTokens({ accessToken: token, refreshToken: 'r1' });
  assert.deepEqual(socket.frames('auth'), [{ type: 'auth', token }]);
  socket.receive({ type: 'authenticated', user: 'u1', expires: inAnHour() });
  assert.equal(sockets.length, 1);
  await client.auth.clear();
  assert.equal(socket.closedWith, 1000);
  const anonymous = await connected(1);
  assert.deepEqual(anonymous.sent, [{ type: 'subscribe', id: 's1', topic: 'posts', since: 't1' }]);
  client.realtime.close();
});

test('the access token is refreshed and sent again before it expires', async () => {
  const { fetch, calls } = refreshFetch();
  const { client, sockets } = setup({ token: jwt(inAnHour()), refreshToken: 'r1', fetch });
  client.realtime.subscribe('posts', () => {});
  const socket = await until(() => sockets[0]);
  socket.open();
  await until(() => socket.frames('auth').length === 1);
  // Expires in 1.5 s: less than the minute before, so half way, but not within a second.
  const sentAt = Date.now();
  socket.receive({ type: 'authenticated', user: 'u1', expires: Date.now() / 1000 + 1.5 });
  await until(() => socket.frames('auth').length === 2, 3000, 'a second auth frame');
  assert.ok(Date.now() - sentAt >= 990, `refreshed after ${Date.now() - sentAt} ms`);
  assert.equal(calls.refresh, 1);
  assert.equal(socket.frames('auth')[1].token, client.auth.accessToken);
  assert.equal(sockets.length, 1);
  client.realtime.close();
});

test('close 4001: the token is refreshed and the connection resumes with it', async () => {
  const { fetch, calls } = refreshFetch();
  const { client, sockets, connected } = setup({ token: jwt(inAnHour()), refreshToken: 'r1', fetch });
  const errors = [];
  client.realtime.onError((e) => errors.push(e));
  client.realtime.subscribe('posts', () => {});
  const socket = await connected();
  socket.receive({ type: 'subscribed', id: 's1', token: 't1' });
  socket.receive({ type: 'error', status: 401, errors: [{ code: 'invalid_token', message: 'expired' }] });
  socket.serverClose(4001);
  const next = await until(() => sockets[1]);
  assert.equal(calls.refresh, 1);
  next.open();
  await until(() => next.sent.length > 0);
  assert.deepEqual(next.sent, [{ type: 'auth', token: client.auth.accessToken }]);
  next.receive({ type: 'authenticated', user: 'u1', expires: inAnHour() });
  assert.deepEqual(next.frames('subscribe'), [{ type: 'subscribe', id: 's1', topic: 'posts', since: 't1' }]);
  assert.deepEqual(errors, []);
  client.realtime.close();
});

test('close 4001 without a refresh token: an error, then nothing until the tokens change', async () => {
  const { client, sockets, connected } = setup({ token: jwt(inAnHour()) });
  const errors = [];
  client.realtime.onError((e) => errors.push(e));
  client.realtime.subscribe('posts', () => {});
  const socket = await connected();
  socket.serverClose(4001);
  assert.equal(client.realtime.state, 'idle');
  assert.deepEqual(errors.map((e) => [e.status, e.code]), [[401, 'invalid_token']]);
  await sleep(100);
  assert.equal(sockets.length, 1);
  const token = jwt(inAnHour());
  await client.auth.setTokens({ accessToken: token, refreshToken: null });
  const next = await until(() => sockets[1]);
  next.open();
  assert.deepEqual(next.sent, [{ type: 'auth', token }]);
  client.realtime.close();
});

test('close 4001 whose refresh is refused: the tokens are cleared and it goes on anonymously', async () => {
  const { fetch } = refreshFetch({ refuse: true });
  const { client, sockets, connected } = setup({ token: jwt(inAnHour()), refreshToken: 'r1', fetch });
  const errors = [];
  client.realtime.onError((e) => errors.push(e.code));
  client.realtime.subscribe('posts', () => {});
  const socket = await connected();
  socket.serverClose(4001);
  const next = await until(() => sockets[1]);
  next.open();
  assert.deepEqual(next.sent, [{ type: 'subscribe', id: 's1', topic: 'posts' }]);
  assert.equal(client.auth.accessToken, null);
  assert.deepEqual(errors, ['invalid_token']);
  client.realtime.close();
});

test('close 4003: the session ended; tokens cleared, the app told, anonymous from then on', async () => {
  const tokens = [];
  const { client, sockets, connected } = setup({
    token: jwt(inAnHour()), refreshToken: 'r1', onTokens: (t) => tokens.push(t),
  });
  const errors = [];
  client.realtime.onError((e) => errors.push(e));
  client.realtime.subscribe('posts', () => {});
  const socket = await connected();
  socket.receive({ type: 'subscribed', id: 's1', token: 't1' });
  socket.serverClose(4003);
  const next = await until(() => sockets[1]);
  next.open();
  assert.deepEqual(next.sent, [{ type: 'subscribe', id: 's1', topic: 'posts', since: 't1' }]);
  assert.deepEqual(tokens, [{ accessToken: null, refreshToken: null }]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].status, 410);
  assert.equal(errors[0].code, 'session_ended');
  client.realtime.close();
});

test('the close 4003 of this client\'s own logout() is not reported as an error', async () => {
  /** @type {any} */
  let socket = null;
  /** @type {typeof fetch} */
  const fetchImpl = async (input, init = {}) => {
    const url = new URL(String(input));
    assert.equal(`${init.method} ${url.pathname}`, 'DELETE /api/v1/auth/session');
    socket.serverClose(4003); // the server ends the session before it answers
    return new Response(JSON.stringify({ status: 401, meta: { is_authenticated: false } }), { status: 401 });
  };
  const { client, sockets, connected } = setup({ token: jwt(inAnHour()), refreshToken: 'r1', fetch: fetchImpl });
  const errors = [];
  client.realtime.onError((e) => errors.push(e));
  client.realtime.subscribe('posts', () => {});
  socket = await connected();
  socket.receive({ type: 'subscribed', id: 's1', token: 't1' });
  await client.auth.logout();
  const next = await until(() => sockets[1]);
  next.open();
  assert.deepEqual(next.sent, [{ type: 'subscribe', id: 's1', topic: 'posts', since: 't1' }]);
  await sleep(20);
  assert.deepEqual(errors, []);
  assert.equal(sockets.length, 2);
  client.realtime.close();
});

test('frames are paced under the server rate limit', async () => {
  const { client, connected } = setup();
  for (let i = 0; i < 60; i += 1) client.realtime.subscribe(`c${i}`, () => {});
  const socket = await connected();
  const first = socket.sent.length;
  assert.ok(first <= 40, `${first} frames at once`);
  await until(() => socket.sent.length === 60, 3000, 'the rest of the subscriptions');
  client.realtime.close();
});

test('without a WebSocket the error says what to pass', () => {
  const client = createClient({ baseUrl: 'http://h', WebSocket: undefined });
  const saved = globalThis.WebSocket;
  // @ts-ignore
  delete globalThis.WebSocket;
  try {
    assert.throws(() => client.realtime.subscribe('posts', () => {}), /createClient\(\{ WebSocket \}\)/);
  } finally {
    if (saved) globalThis.WebSocket = saved;
  }
});
