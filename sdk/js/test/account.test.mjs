// Guests and the account's own data against a real server (POST /auth/guest,
// POST /auth/guest/upgrade, GET and DELETE /account/export, /account). Needs BAAS_URL,
// BAAS_MAIL_DIR, BAAS_USER_EMAIL, BAAS_USER_PASSWORD as auth.test.mjs. Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BaasError, createClient } from '../index.js';
import { baasErrorOf, lastCode } from './helpers.mjs';

const { BAAS_URL, BAAS_USER_EMAIL, BAAS_USER_PASSWORD } = process.env;
const PASSWORD = 'A-long-pass-phrase-1';

const connect = () => createClient({ baseUrl: /** @type {string} */ (BAAS_URL) });

describe('guests and account data against a live server', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  test('a guest signs in, then upgrades with an email and password', async () => {
    const client = connect();
    const result = await client.auth.guest();
    assert.equal(result.signedIn, true);
    assert.ok(client.auth.accessToken);
    const guestId = result.user?.id;

    const guestToken = client.auth.accessToken;
    const upgraded = await client.auth.upgradeGuest('js.guest@example.com', PASSWORD);
    // Still signed in as the guest while the new address awaits its code.
    assert.deepEqual([upgraded.signedIn, upgraded.pending], [true, 'verify_email']);
    assert.equal(client.auth.accessToken, guestToken);
    const done = await client.auth.verifyEmail(lastCode('js.guest@example.com'));
    assert.deepEqual([done.signedIn, done.pending], [true, null]);
    const again = await connect().auth.login('js.guest@example.com', PASSWORD);
    assert.equal(again.user?.id, guestId);
  });

  test('export returns the account\'s own data, and needs a sign-in', async () => {
    const client = connect();
    await client.auth.login(/** @type {string} */ (BAAS_USER_EMAIL), /** @type {string} */ (BAAS_USER_PASSWORD));
    const exported = await client.auth.exportAccount();
    assert.ok(JSON.stringify(exported).includes(/** @type {string} */ (BAAS_USER_EMAIL)));
    assert.equal((await baasErrorOf(connect().auth.exportAccount())).status, 401);
  });

  test('delete may ask for the password first, then deletes and clears the tokens', async () => {
    const client = connect();
    await client.auth.signup('js.delete@example.com', PASSWORD);
    await client.auth.verifyEmail(lastCode('js.delete@example.com'));
    try {
      await client.auth.deleteAccount();
    } catch (error) {
      assert.ok(error instanceof BaasError);
      assert.equal(error.status, 401);
      assert.equal(error.code, 'reauthentication_required');
      assert.ok(client.auth.accessToken);
      await client.auth.reauthenticate(PASSWORD);
      await client.auth.deleteAccount();
    }
    assert.equal(client.auth.accessToken, null);
    const error = await baasErrorOf(connect().auth.login('js.delete@example.com', PASSWORD));
    assert.equal(error.status, 400);
  });
});
