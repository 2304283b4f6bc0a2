// Shared by the live suites: errors and the codes the server mails. BAAS_MAIL_DIR holds one
// file per mail, named in send order (tests/sdk/mailbox.py).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { BaasError } from '../index.js';

/**
 * The BaasError a promise rejects with (fails the test if it resolves or throws another).
 * @param {Promise<unknown>} promise
 * @returns {Promise<BaasError>}
 */
export async function baasErrorOf(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BaasError, `expected a BaasError, got ${error}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

/** The mails to `to`, oldest first. */
export function mailsTo(/** @type {string} */ to) {
  const dir = /** @type {string} */ (process.env.BAAS_MAIL_DIR);
  const recipient = new RegExp(`^To: .*${to.replace(/[.+]/g, '\\$&')}`, 'mi');
  return readdirSync(dir)
    .sort()
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .filter((text) => recipient.test(text));
}

/** The code in the newest mail to `to` (allauth's codes look like ABCD-EFGH). */
export function lastCode(/** @type {string} */ to) {
  const mails = mailsTo(to);
  assert.ok(mails.length > 0, `no mail to ${to}`);
  const match = /^([A-Z0-9]{4}-?[A-Z0-9]{4}|[A-Z0-9]{6})\r?$/m.exec(mails[mails.length - 1]);
  assert.ok(match, mails[mails.length - 1]);
  return match[1];
}
