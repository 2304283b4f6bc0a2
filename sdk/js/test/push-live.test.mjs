// Push against a real server: BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD (a superuser, who may
// send: superusers and `push:send` API keys do). App users are guests made here (this file
// runs beside auth.test.mjs, which signs BAAS_USER_EMAIL's other sessions out). Devices,
// topics, a Web Push registration with a fake pushManager (its endpoint on
// fcm.googleapis.com, a default BAAS_WEBPUSH_ALLOWED_HOSTS entry; nothing is sent to it),
// sending, status, scheduling, cancelling, and opens. Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { BaasError, createClient, newIdempotencyKey } from '../index.js';
import { baasErrorOf } from './helpers.mjs';

const { BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD } = process.env;
const NEWS = 'sdk-js-news';
const ALERTS = 'sdk-js-alerts';
const WEB = 'sdk-js-web';
const CLOSED = 'sdk-js-closed';
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** An FCM-shaped token: "fcm-" and 150 random characters of its alphabet. */
function fcmToken() {
  return `fcm-${randomBytes(150).toString('base64url').slice(0, 150)}`;
}

const connect = () => createClient({ baseUrl: BAAS_URL ?? 'http://unused' });

/** A browser's ServiceWorkerRegistration whose pushManager makes real-looking subscriptions. */
function fakeRegistration() {
  const subscribes = [];
  const registration = {
    /** @type {any} */
    current: null,
    subscribes,
    pushManager: {
      getSubscription: async () => registration.current,
      subscribe: async (/** @type {any} */ options) => {
        subscribes.push(options);
        const json = {
          endpoint: `https://fcm.googleapis.com/fcm/send/sdk-js-${randomBytes(12).toString('hex')}`,
          expirationTime: null,
          keys: {
            p256dh: createECDH('prime256v1').generateKeys().toString('base64url'),
            auth: randomBytes(16).toString('base64url'),
          },
        };
        registration.current = {
          endpoint: json.endpoint,
          options: { userVisibleOnly: true, applicationServerKey: options.applicationServerKey.slice().buffer },
          toJSON: () => json,
          unsubscribe: async () => true,
        };
        return registration.current;
      },
    },
  };
  return registration;
}

describe('push against a live server', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  const admin = connect();
  const user = connect();
  const other = connect();
  /** @type {string} */
  let deviceId;

  before(async () => {
    await admin.auth.login(BAAS_EMAIL, BAAS_PASSWORD);
    // Topic rules are admin work (superusers, `schema` keys): no SDK call, the raw API.
    for (const rule of [{ name: '*', rule: '' }, { name: CLOSED, rule: null }]) {
      try {
        await admin.request('POST', '/push/topics', { body: rule });
      } catch (error) {
        if (!(error instanceof BaasError && error.code === 'duplicate_name')) throw error;
      }
    }
    assert.equal((await user.auth.guest()).signedIn, true);
    assert.equal((await other.auth.guest()).signedIn, true);
  });

  after(async () => {
    for (const name of ['*', CLOSED]) {
      try {
        await admin.request('DELETE', `/push/topics/${encodeURIComponent(name)}`);
      } catch (error) {
        if (!(error instanceof BaasError && error.status === 404)) throw error;
      }
    }
  });

  test('the VAPID public key is a base64url P-256 point, for anyone', async () => {
    const key = await connect().push.vapidPublicKey();
    assert.match(key, /^[A-Za-z0-9_-]{87}$/);
    const raw = Buffer.from(key, 'base64url');
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 4);
  });

  test('a user registers an FCM device, again (same device), subscribes, lists and unregisters', async () => {
    const token = fcmToken();
    const first = await user.push.registerDevice({
      platform: 'fcm', token, topics: [NEWS], appVersion: '1.0.0',
    });
    assert.equal(first.platform, 'fcm');
    assert.equal(first.token, token);
    assert.deepEqual(first.topics, [NEWS]);
    assert.equal(first.app_version, '1.0.0');
    assert.equal(first.active, true);
    // The runtime's time zone and locale, as nothing else was given.
    assert.equal(first.timezone, ZONE === 'Etc/Unknown' ? '' : ZONE);
    assert.equal(typeof first.locale, 'string');

    const again = await user.push.registerDevice({
      platform: 'fcm', token, appVersion: '1.0.1', timezone: 'Europe/Paris', locale: 'fr-FR',
    });
    assert.equal(again.id, first.id);
    assert.deepEqual([again.app_version, again.timezone, again.locale], ['1.0.1', 'Europe/Paris', 'fr-FR']);
    assert.deepEqual(again.topics, [NEWS], 'topics left out are kept');

    const subscribed = await user.push.subscribe(ALERTS);
    assert.deepEqual(subscribed, { topic: ALERTS, devices: [first.id], subscribed: true });
    let devices = await user.push.listDevices();
    assert.deepEqual(devices.map((d) => [d.id, d.topics]), [[first.id, [ALERTS, NEWS].sort()]]);

    const unsubscribed = await user.push.unsubscribe(ALERTS, { devices: [first.id] });
    assert.deepEqual(unsubscribed, { topic: ALERTS, devices: [first.id], subscribed: false });

    // Another user's device is not there for them.
    const error = await baasErrorOf(other.push.unregisterDevice(first.id));
    assert.deepEqual([error.status, error.code], [404, 'device_not_found']);
    assert.deepEqual(await other.push.listDevices(), []);

    await user.push.unregisterDevice(first.id);
    devices = await user.push.listDevices();
    assert.deepEqual(devices, []);
  });

  test('the topic rules decide; bad tokens and API keys are refused', async () => {
    let error = await baasErrorOf(user.push.subscribe(CLOSED));
    assert.deepEqual([error.status, error.code], [403, 'topic_forbidden']);
    error = await baasErrorOf(user.push.registerDevice({ platform: 'fcm', token: 'short' }));
    assert.deepEqual([error.status, error.code, error.param], [400, 'invalid_token', 'token']);
    error = await baasErrorOf(connect().push.listDevices());
    assert.equal(error.status, 401);
  });

  test('registerWebPush subscribes with the server key and registers the subscription once', async () => {
    const registration = fakeRegistration();
    const device = await user.push.registerWebPush(registration, { topics: [WEB] });
    assert.equal(registration.subscribes.length, 1);
    assert.equal(registration.subscribes[0].userVisibleOnly, true);
    const key = await user.push.vapidPublicKey();
    assert.deepEqual(Buffer.from(registration.subscribes[0].applicationServerKey), Buffer.from(key, 'base64url'));

    const sent = registration.current.toJSON();
    assert.equal(device.platform, 'webpush');
    assert.equal(device.token, undefined);
    assert.deepEqual(device.subscription, { endpoint: sent.endpoint, keys: sent.keys });
    assert.deepEqual(device.topics, [WEB]);

    // The next start of the app: the browser's subscription is reused, the device updated.
    const again = await user.push.registerWebPush(registration, { appVersion: '2' });
    assert.equal(registration.subscribes.length, 1);
    assert.equal(again.id, device.id);
    assert.equal(again.app_version, '2');
    await user.push.unregisterDevice(device.id);
  });

  test('a superuser sends to a topic, reads the status; a scheduled one is cancelled', async () => {
    const device = await user.push.registerDevice({ platform: 'fcm', token: fcmToken(), topics: [NEWS] });
    deviceId = device.id;

    const key = newIdempotencyKey();
    const message = {
      to: { topic: NEWS },
      notification: { title: 'Match day', body: 'Kick-off at 20:00' },
      data: { match: 'm_123' },
      collapseKey: 'match-m_123',
      ttl: 3600,
    };
    const sent = await admin.push.send(message, { idempotencyKey: key });
    assert.match(sent.id, /^\S+$/);
    assert.ok(['scheduled', 'sending', 'done'].includes(sent.state), sent.state);
    assert.deepEqual(sent.to, { topic: NEWS });
    assert.equal(sent.collapse_key, 'match-m_123');
    assert.equal(sent.ttl, 3600);
    // The same key again: the stored answer, not a second message.
    assert.equal((await admin.push.send(message, { idempotencyKey: key })).id, sent.id);

    const status = await admin.push.status(sent.id);
    assert.equal(status.id, sent.id);
    assert.ok(['scheduled', 'sending', 'done'].includes(status.state), status.state);
    assert.deepEqual(Object.keys(status.counts).sort(), ['failed', 'invalid_token', 'opened', 'queued', 'sent']);
    assert.ok(Array.isArray(status.results.items));
    const page = await admin.push.status(sent.id, { limit: 1 });
    assert.ok(page.results.items.length <= 1);

    const later = await admin.push.schedule({
      to: { topic: NEWS },
      notification: { title: 'Later' },
      sendAt: new Date(Date.now() + 3600 * 1000),
    });
    assert.equal(later.state, 'scheduled');
    assert.equal(typeof later.send_at, 'string');
    const cancelled = await admin.push.cancel(later.id);
    assert.equal(cancelled.state, 'cancelled');
    assert.equal((await admin.push.status(later.id)).state, 'cancelled');

    const listed = await admin.push.listMessages({ limit: 50 });
    assert.ok(listed.items.some((m) => m.id === sent.id));
    assert.ok('next_cursor' in listed);
    const onlyCancelled = await admin.push.listMessages({ state: 'cancelled' });
    assert.deepEqual(onlyCancelled.items.map((m) => m.id), [later.id]);

    // The topic's device got it (whatever the unconfigured provider made of it): the user
    // may report it opened.
    const opened = await user.push.reportOpened(sent.id, { device: deviceId });
    assert.equal(typeof opened.opened, 'number');
  });

  test('sending needs push:send; a sent message is not cancelled; opens elsewhere are a 404', async () => {
    let error = await baasErrorOf(user.push.send({ to: { topic: NEWS }, notification: { title: 'x' } }));
    assert.equal(error.status, 403);
    error = await baasErrorOf(admin.push.send({ to: { topic: NEWS } }));
    assert.deepEqual([error.status, error.param], [400, 'notification']);

    const sent = await admin.push.send({ to: { topic: NEWS }, data: { a: 'b' } });
    error = await baasErrorOf(admin.push.cancel(sent.id));
    assert.deepEqual([error.status, error.code], [409, 'already_sent']);
    // `other` has no device on the topic: the message did not reach them.
    error = await baasErrorOf(other.push.reportOpened(sent.id));
    assert.deepEqual([error.status, error.code], [404, 'message_not_found']);
    error = await baasErrorOf(user.push.reportOpened('no-such-message'));
    assert.deepEqual([error.status, error.code], [404, 'message_not_found']);
    await user.push.unregisterDevice(deviceId);
  });
});
