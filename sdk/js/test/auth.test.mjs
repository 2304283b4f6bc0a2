// The auth flows against a real server. Besides live.test.mjs's variables: BAAS_MAIL_DIR
// (one file per mail, see helpers.mjs), BAAS_USER_EMAIL and
// BAAS_USER_PASSWORD (a verified app user), BAAS_MFA_EMAIL and BAAS_MFA_SECRET (a user with
// an authenticator app, the same password). Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';

import { createClient } from '../index.js';
import { baasErrorOf, lastCode } from './helpers.mjs';

const {
  BAAS_URL, BAAS_USER_EMAIL, BAAS_USER_PASSWORD, BAAS_MFA_EMAIL, BAAS_MFA_SECRET,
} = process.env;
const PASSWORD = 'A-long-pass-phrase-1';
const NEW_PASSWORD = 'Another-long-phrase-2';

/** RFC 6238 as an authenticator app computes it, for the current 30-second window. */
async function totpCode(/** @type {string} */ secret) {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < 3) await new Promise((resolve) => { setTimeout(resolve, left * 1000 + 100); });
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  }
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const digest = createHmac('sha1', key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const connect = () => createClient({ baseUrl: /** @type {string} */ (BAAS_URL) });

/** The client's stored tokens open an authenticated endpoint, as `email`. */
async function signedInAs(/** @type {ReturnType<typeof connect>} */ client, /** @type {string} */ email) {
  assert.deepEqual((await client.auth.listEmails()).map((e) => e.email), [email]);
}

/** The client's device session has ended: refused, and its tokens are cleared. */
async function refused(/** @type {ReturnType<typeof connect>} */ client) {
  const error = await baasErrorOf(client.auth.listEmails());
  assert.equal(error.status, 410);
  assert.equal(error.code, 'session_ended');
  assert.equal(client.auth.accessToken, null);
  assert.equal(client.auth.refreshToken, null);
}

describe('auth flows against a live server', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  const user = /** @type {string} */ (BAAS_USER_EMAIL);
  const userPassword = /** @type {string} */ (BAAS_USER_PASSWORD);

  test('sign-up is pending verification; the mailed code signs in', async () => {
    const seen = [];
    const client = createClient({ baseUrl: /** @type {string} */ (BAAS_URL), onTokens: (t) => seen.push(t) });
    const result = await client.auth.signup('js.new@example.com', PASSWORD);
    assert.deepEqual([result.signedIn, result.user, result.pending], [false, null, 'verify_email']);
    assert.equal(client.auth.pending, 'verify_email');
    assert.ok(client.auth.sessionToken);
    assert.equal(client.auth.accessToken, null);

    const wrong = await baasErrorOf(client.auth.verifyEmail('WRONG-CODE'));
    assert.equal(wrong.status, 400);
    assert.equal(wrong.param, 'key');

    const done = await client.auth.verifyEmail(lastCode('js.new@example.com'));
    assert.equal(done.signedIn, true);
    assert.equal(done.user?.email, 'js.new@example.com');
    assert.equal(client.auth.sessionToken, null);
    assert.equal(seen.length, 1);
    await signedInAs(client, 'js.new@example.com');
  });

  test('login with an authenticator app is pending until the second factor', async () => {
    const client = connect();
    const result = await client.auth.login(/** @type {string} */ (BAAS_MFA_EMAIL), userPassword);
    assert.equal(result.signedIn, false);
    assert.equal(result.pending, 'mfa_authenticate');
    assert.ok(result.flows.find((f) => f.id === 'mfa_authenticate')?.types?.includes('totp'));
    assert.equal(client.auth.accessToken, null);

    const done = await client.auth.mfaAuthenticate(await totpCode(/** @type {string} */ (BAAS_MFA_SECRET)));
    assert.equal(done.signedIn, true);
    await signedInAs(client, /** @type {string} */ (BAAS_MFA_EMAIL));
  });

  test('a login code mailed to the address signs in', async () => {
    const client = connect();
    const result = await client.auth.requestLoginCode(user);
    assert.equal(result.pending, 'login_by_code');
    const done = await client.auth.confirmLoginCode(lastCode(user));
    assert.equal(done.signedIn, true);
    await signedInAs(client, user);
  });

  test('sessions lists each device, and ending one signs it out', async () => {
    const other = connect();
    await other.auth.login(user, userPassword);
    const client = connect();
    await client.auth.login(user, userPassword);
    const sessions = await client.auth.sessions();
    assert.ok(sessions.length >= 2);
    assert.equal(sessions.filter((s) => s.is_current).length, 1);
    const current = sessions.find((s) => s.is_current);
    const remaining = await client.auth.endSessions(sessions.filter((s) => !s.is_current).map((s) => s.id));
    assert.deepEqual(remaining.map((s) => s.id), [current?.id]);
    await refused(other);
    await signedInAs(client, user);
  });

  test('change email is confirmed by the code mailed to the new address', async () => {
    const client = connect();
    await client.auth.signup('js.change@example.com', PASSWORD);
    await client.auth.verifyEmail(lastCode('js.change@example.com'));
    await client.auth.changeEmail('js.moved@example.com');
    const result = await client.auth.verifyEmail(lastCode('js.moved@example.com'));
    assert.equal(result.signedIn, true);
    const emails = await client.auth.listEmails();
    assert.deepEqual(emails.map((e) => [e.email, e.verified, e.primary]), [['js.moved@example.com', true, true]]);
  });

  test('change password keeps this device signed in and signs out the others', async () => {
    const elsewhere = connect();
    await elsewhere.auth.login('js.moved@example.com', PASSWORD);
    const client = connect();
    await client.auth.login('js.moved@example.com', PASSWORD);
    const before = client.auth.accessToken;
    const wrong = await baasErrorOf(client.auth.changePassword('not the password', NEW_PASSWORD));
    assert.equal(wrong.status, 400);
    await client.auth.changePassword(PASSWORD, NEW_PASSWORD);
    assert.notEqual(client.auth.accessToken, before);
    await signedInAs(client, 'js.moved@example.com');
    await refused(elsewhere);
  });

  test('password reset by code sets a new password; the result is not signed in', async () => {
    const client = connect();
    const result = await client.auth.requestPasswordReset('js.new@example.com');
    assert.equal(result.pending, 'password_reset_by_code');
    const code = lastCode('js.new@example.com');
    assert.equal((await client.auth.checkPasswordResetCode(code)).email, 'js.new@example.com');
    const done = await client.auth.resetPassword(code, NEW_PASSWORD);
    assert.deepEqual([done.signedIn, done.pending], [false, null]);
    assert.equal((await connect().auth.login('js.new@example.com', NEW_PASSWORD)).signedIn, true);
    const old = await baasErrorOf(connect().auth.login('js.new@example.com', PASSWORD));
    assert.equal(old.status, 400);
  });

  test('logout ends the session on the server and clears the tokens', async () => {
    const client = connect();
    await client.auth.login(user, userPassword);
    const refreshToken = client.auth.refreshToken;
    await client.auth.logout();
    assert.equal(client.auth.accessToken, null);
    assert.equal(client.auth.refreshToken, null);
    const stale = createClient({ baseUrl: /** @type {string} */ (BAAS_URL), refreshToken });
    const error = await baasErrorOf(stale.auth.refresh());
    assert.equal(error.status, 401);
  });

  test('reauthenticate confirms the password; account calls need a sign-in', async () => {
    const client = connect();
    await client.auth.login(user, userPassword);
    assert.equal((await client.auth.reauthenticate(userPassword)).signedIn, true);
    assert.equal((await baasErrorOf(client.auth.reauthenticate('not the password'))).status, 400);
    const anonymous = connect();
    for (const call of [
      () => anonymous.auth.listEmails(),
      () => anonymous.auth.sessions(),
      () => anonymous.auth.endSessions([1]),
      () => anonymous.auth.changePassword(userPassword, NEW_PASSWORD),
      () => anonymous.auth.reauthenticate(userPassword),
    ]) {
      assert.equal((await baasErrorOf(call())).status, 401);
    }
  });

  test('an ID token for a provider that is not configured is a 400', async () => {
    const client = connect();
    const error = await baasErrorOf(client.auth.signInWithIdToken('google', 'not-a-token', 'client-id'));
    assert.equal(error.status, 400);
    assert.equal(client.auth.accessToken, null);
  });
});
