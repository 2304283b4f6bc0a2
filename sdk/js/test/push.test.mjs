// Push without a server: what client.push sends (paths, snake_case bodies, defaults,
// idempotency keys) and how registerWebPush drives a browser's pushManager, checked
// against a scripted fetch and a fake ServiceWorkerRegistration.
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { BaasError, createClient } from '../index.js';

const VAPID = createECDH('prime256v1').generateKeys();
const VAPID_KEY = VAPID.toString('base64url');
const OTHER_KEY = createECDH('prime256v1').generateKeys();
const DEVICE = { id: 'd1', platform: 'fcm', token: 'fcm-x', topics: [], active: true };
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * A fetch that answers from `handler(request)` and records every request.
 * @param {(req: {method: string, url: URL, headers: Record<string, string>, body: any}) =>
 *   {status?: number, body?: unknown}} [handler]
 */
function fakeFetch(handler = () => ({ body: DEVICE })) {
  const calls = [];
  /** @type {typeof fetch} */
  const fetchImpl = async (input, init = {}) => {
    const request = {
      method: init.method ?? 'GET',
      url: new URL(String(input)),
      headers: /** @type {Record<string, string>} */ (init.headers ?? {}),
      body: init.body === undefined ? undefined : JSON.parse(String(init.body)),
    };
    calls.push(request);
    const { status = 200, body } = await handler(request);
    return new Response(status === 204 ? null : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' },
    });
  };
  return { fetch: fetchImpl, calls };
}

/** The server's answers for registerWebPush: the VAPID key, then the device as sent. */
function webPushServer() {
  return fakeFetch((request) => (request.url.pathname.endsWith('/vapid-public-key')
    ? { body: { public_key: VAPID_KEY } }
    : { status: 201, body: { id: 'w1', ...request.body } }));
}

/** A browser PushSubscription: its endpoint, keys and the key it was made with. */
function fakeSubscription(applicationServerKey) {
  const json = {
    endpoint: `https://fcm.googleapis.com/fcm/send/${randomBytes(8).toString('hex')}`,
    expirationTime: null,
    keys: {
      p256dh: createECDH('prime256v1').generateKeys().toString('base64url'),
      auth: randomBytes(16).toString('base64url'),
    },
  };
  return {
    endpoint: json.endpoint,
    options: { userVisibleOnly: true, applicationServerKey },
    unsubscribed: false,
    toJSON: () => json,
    async unsubscribe() { this.unsubscribed = true; return true; },
  };
}

/** A ServiceWorkerRegistration whose pushManager holds `current` and records subscribes. */
function fakeRegistration(current = null) {
  const subscribes = [];
  const registration = {
    current,
    subscribes,
    pushManager: {
      getSubscription: async () => registration.current,
      subscribe: async (options) => {
        subscribes.push(options);
        registration.current = fakeSubscription(options.applicationServerKey.buffer.slice(0));
        return registration.current;
      },
    },
  };
  return registration;
}

test('registerDevice posts the token in snake_case, the runtime time zone and locale by default', async () => {
  const { fetch, calls } = fakeFetch(() => ({ status: 201, body: DEVICE }));
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;
  const device = await push.registerDevice({
    platform: 'fcm', token: 'fcm-x', topics: ['news'], appVersion: '2.1.0',
  });
  assert.deepEqual(device, DEVICE);
  const [call] = calls;
  assert.equal(call.method, 'POST');
  assert.equal(call.url.pathname, '/api/v1/push/devices');
  assert.equal(call.headers.Authorization, 'Bearer t');
  assert.equal(call.body.platform, 'fcm');
  assert.equal(call.body.token, 'fcm-x');
  assert.deepEqual(call.body.topics, ['news']);
  assert.equal(call.body.app_version, '2.1.0');
  assert.equal(call.body.appVersion, undefined);
  assert.equal(call.body.timezone, ZONE === 'Etc/Unknown' ? undefined : ZONE);
  if (call.body.locale !== undefined) {
    assert.match(call.body.locale, /^[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8}){0,4}$/);
  }
});

test('registerDevice sends the locale and time zone given; null sends none', async () => {
  const { fetch, calls } = fakeFetch();
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;
  await push.registerDevice({ platform: 'apns', token: 'ab12', locale: 'fr-FR', timezone: 'Europe/Paris' });
  await push.registerDevice({ platform: 'apns', token: 'ab12', locale: null, timezone: null });
  assert.deepEqual(calls[0].body, { platform: 'apns', token: 'ab12', locale: 'fr-FR', timezone: 'Europe/Paris' });
  assert.deepEqual(calls[1].body, { platform: 'apns', token: 'ab12', locale: null, timezone: null });
  await assert.rejects(push.registerDevice(/** @type {any} */ (null)), TypeError);
  assert.equal(calls.length, 2);
});

test('registerWebPush subscribes with the VAPID key and registers subscription.toJSON()', async () => {
  const { fetch, calls } = webPushServer();
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;
  const registration = fakeRegistration();
  const device = await push.registerWebPush(registration, { topics: ['news'], appVersion: '3', timezone: 'UTC' });

  assert.equal(registration.subscribes.length, 1);
  const [options] = registration.subscribes;
  assert.equal(options.userVisibleOnly, true);
  assert.ok(options.applicationServerKey instanceof Uint8Array);
  assert.deepEqual(Buffer.from(options.applicationServerKey), VAPID);

  assert.equal(calls[0].url.pathname, '/api/v1/push/webpush/vapid-public-key');
  assert.equal(calls[0].headers.Authorization, undefined);
  const json = registration.current.toJSON();
  assert.equal(calls[1].url.pathname, '/api/v1/push/devices');
  assert.equal(calls[1].headers.Authorization, 'Bearer t');
  assert.deepEqual(calls[1].body.subscription, { endpoint: json.endpoint, keys: json.keys });
  assert.equal(calls[1].body.platform, 'webpush');
  assert.equal(calls[1].body.token, undefined);
  assert.deepEqual(calls[1].body.topics, ['news']);
  assert.equal(calls[1].body.app_version, '3');
  assert.equal(calls[1].body.timezone, 'UTC');
  assert.equal(device.id, 'w1');
});

test('registerWebPush reuses a subscription made with the key, replaces one made with another', async () => {
  const { fetch, calls } = webPushServer();
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;

  const same = fakeSubscription(new Uint8Array(VAPID).buffer);
  const kept = fakeRegistration(same);
  await push.registerWebPush(kept);
  assert.equal(kept.subscribes.length, 0);
  assert.equal(same.unsubscribed, false);
  assert.equal(calls[1].body.subscription.endpoint, same.endpoint);

  // A browser that does not say which key it used: kept as it is.
  const unknown = fakeSubscription(null);
  const trusted = fakeRegistration(unknown);
  await push.registerWebPush(trusted);
  assert.equal(trusted.subscribes.length, 0);

  const stale = fakeSubscription(new Uint8Array(OTHER_KEY));
  const replaced = fakeRegistration(stale);
  await push.registerWebPush(replaced);
  assert.equal(stale.unsubscribed, true);
  assert.equal(replaced.subscribes.length, 1);
  assert.notEqual(replaced.current, stale);
  assert.equal(calls.at(-1).body.subscription.endpoint, replaced.current.endpoint);
});

test('registerWebPush without a Push API is a TypeError, before any request', async () => {
  const { fetch, calls } = webPushServer();
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;
  await assert.rejects(push.registerWebPush(/** @type {any} */ ({})), /ServiceWorkerRegistration/);
  await assert.rejects(push.registerWebPush(/** @type {any} */ (undefined)), TypeError);
  assert.equal(calls.length, 0);
});

test('vapidPublicKey sends no credential and checks the answer', async () => {
  let answer = { public_key: VAPID_KEY };
  const { fetch, calls } = fakeFetch(() => ({ body: answer }));
  const push = createClient({ baseUrl: 'http://h', apiKey: 'bk_x', fetch }).push;
  assert.equal(await push.vapidPublicKey(), VAPID_KEY);
  assert.equal(calls[0].headers.Authorization, undefined);
  answer = {};
  await assert.rejects(push.vapidPublicKey(), { name: 'BaasError', code: 'invalid_response' });
});

test('devices and topics: list, unregister, subscribe and unsubscribe', async () => {
  const { fetch, calls } = fakeFetch((request) => {
    if (request.method === 'GET') return { body: { items: [DEVICE] } };
    if (request.method === 'DELETE' && request.url.pathname.startsWith('/api/v1/push/devices/')) {
      return { status: 204 };
    }
    return { body: { topic: 'a b', devices: ['d1'], subscribed: request.method === 'POST' } };
  });
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;
  assert.deepEqual(await push.listDevices(), [DEVICE]);
  assert.equal(await push.unregisterDevice('d/1'), undefined);
  assert.equal((await push.subscribe('a b')).subscribed, true);
  assert.equal((await push.unsubscribe('a b', { devices: ['d1'] })).subscribed, false);

  assert.deepEqual(calls.map((c) => [c.method, c.url.pathname, c.body]), [
    ['GET', '/api/v1/push/devices', undefined],
    ['DELETE', '/api/v1/push/devices/d%2F1', undefined],
    ['POST', '/api/v1/push/topics/a%20b/subscription', undefined],
    ['DELETE', '/api/v1/push/topics/a%20b/subscription', { devices: ['d1'] }],
  ]);
});

test('reportOpened posts the device, or nothing for every device', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: { opened: 1 } }));
  const push = createClient({ baseUrl: 'http://h', token: 't', fetch }).push;
  assert.deepEqual(await push.reportOpened('m1', { device: 'd1' }), { opened: 1 });
  await push.reportOpened('m1');
  assert.equal(calls[0].url.pathname, '/api/v1/push/messages/m1/opened');
  assert.deepEqual(calls[0].body, { device: 'd1' });
  assert.deepEqual(calls[1].body, {});
});

test('send spells the message in snake_case, a Date as RFC 3339, with the idempotency key', async () => {
  const { fetch, calls } = fakeFetch(() => ({ status: 202, body: { id: 'm1', state: 'sending', total: 0 } }));
  const push = createClient({ baseUrl: 'http://h', apiKey: 'bk_push', fetch }).push;
  const message = await push.send({
    to: { topic: 'news' },
    notification: { title: 'Hi', body: 'There' },
    data: { match: 'm_1' },
    ttl: 60,
    collapseKey: 'match',
    priority: 'normal',
    overrides: { apns: { headers: { 'apns-priority': '5' } } },
  }, { idempotencyKey: 'k1' });
  assert.equal(message.id, 'm1');
  const [call] = calls;
  assert.equal(call.method, 'POST');
  assert.equal(call.url.pathname, '/api/v1/push/messages');
  assert.equal(call.headers.Authorization, 'Bearer bk_push');
  assert.equal(call.headers['Idempotency-Key'], 'k1');
  assert.deepEqual(call.body, {
    to: { topic: 'news' },
    notification: { title: 'Hi', body: 'There' },
    data: { match: 'm_1' },
    ttl: 60,
    collapse_key: 'match',
    priority: 'normal',
    overrides: { apns: { headers: { 'apns-priority': '5' } } },
  });

  const at = new Date('2030-01-02T03:04:05.000Z');
  await push.schedule({ to: { users: ['u1'] }, data: { a: 'b' }, sendAt: at });
  assert.equal(calls[1].body.send_at, '2030-01-02T03:04:05.000Z');
  await push.schedule({ to: { users: ['u1'] }, data: { a: 'b' }, sendAt: { local: '09:00' } });
  assert.deepEqual(calls[2].body.send_at, { local: '09:00' });
  await assert.rejects(push.schedule(/** @type {any} */ ({ to: { users: ['u1'] }, data: { a: 'b' } })), /sendAt/);
  assert.equal(calls.length, 3);
});

test('status, listMessages and cancel', async () => {
  const { fetch, calls } = fakeFetch((request) => (request.url.pathname === '/api/v1/push/messages'
    ? { body: { items: [{ id: 'm1' }], next_cursor: 'c2' } }
    : { body: { id: 'm1', state: request.method === 'DELETE' ? 'cancelled' : 'done' } }));
  const push = createClient({ baseUrl: 'http://h', apiKey: 'bk_push', fetch }).push;
  assert.equal((await push.status('m1', { state: 'failed', limit: 10, cursor: '5' })).state, 'done');
  await push.status('m1');
  assert.deepEqual(await push.listMessages({ state: 'scheduled', limit: 2 }), { items: [{ id: 'm1' }], next_cursor: 'c2' });
  assert.equal((await push.cancel('m1')).state, 'cancelled');
  assert.deepEqual(calls.map((c) => [c.method, c.url.pathname + c.url.search]), [
    ['GET', '/api/v1/push/messages/m1?state=failed&limit=10&cursor=5'],
    ['GET', '/api/v1/push/messages/m1'],
    ['GET', '/api/v1/push/messages?state=scheduled&limit=2'],
    ['DELETE', '/api/v1/push/messages/m1'],
  ]);
});

test('a refusal is a BaasError with the server\'s code', async () => {
  const { fetch } = fakeFetch(() => ({
    status: 409,
    body: { status: 409, errors: [{ code: 'already_sent', message: 'Sent.' }] },
  }));
  const push = createClient({ baseUrl: 'http://h', apiKey: 'bk_push', fetch }).push;
  await assert.rejects(push.cancel('m1'), (error) => {
    assert.ok(error instanceof BaasError);
    assert.deepEqual([error.status, error.code], [409, 'already_sent']);
    return true;
  });
});
