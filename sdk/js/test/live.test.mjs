// Against a real server: BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD (a superuser), and optionally
// BAAS_API_KEY (scopes schema, records:read, records:write). Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BaasError, createClient } from '../index.js';

const { BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD, BAAS_API_KEY } = process.env;
const COLLECTION = 'sdk_js_posts';

/**
 * The BaasError a promise rejects with (fails the test if it resolves or throws another).
 * @param {Promise<unknown>} promise
 * @returns {Promise<BaasError>}
 */
async function baasErrorOf(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BaasError, `expected a BaasError, got ${error}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('the SDK against a live server', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  const client = createClient({ baseUrl: BAAS_URL ?? 'http://unused' });
  const posts = client.collection(COLLECTION);

  before(async () => {
    const user = await client.auth.login(BAAS_EMAIL, BAAS_PASSWORD);
    assert.equal(user.email, BAAS_EMAIL);
    assert.ok(client.auth.accessToken);
    assert.ok(client.auth.refreshToken);
  });

  after(async () => {
    try {
      await client.collections.delete(COLLECTION);
    } catch (error) {
      if (!(error instanceof BaasError && error.status === 404)) throw error;
    }
  });

  test('a wrong password is a BaasError and stores no tokens', async () => {
    const other = createClient({ baseUrl: BAAS_URL });
    const error = await baasErrorOf(other.auth.login(BAAS_EMAIL, 'not the password'));
    assert.equal(error.status, 400);
    assert.ok(error.code);
    assert.equal(other.auth.accessToken, null);
  });

  test('a superuser creates, reads and updates a collection', async () => {
    const created = await client.collections.create({
      name: COLLECTION,
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'rank', type: 'number' },
      ],
    });
    assert.equal(created.name, COLLECTION);
    assert.deepEqual(created.fields.map((f) => f.name), ['title', 'rank']);
    assert.ok(created.fields.every((f) => typeof f.id === 'string'));

    const fetched = await client.collections.get(COLLECTION);
    assert.equal(fetched.id, created.id);
    const names = (await client.collections.list()).map((c) => c.name);
    assert.ok(names.includes(COLLECTION), names.join(','));

    const updated = await client.collections.update(COLLECTION, {
      fields: [...created.fields, { name: 'body', type: 'text' }],
    });
    assert.deepEqual(updated.fields.map((f) => f.name), ['title', 'rank', 'body']);
  });

  test('the schema exports and a dry-run import applies nothing', async () => {
    const document = await client.schema.export();
    assert.ok(document.collections.some((c) => c.name === COLLECTION));
    const draft = {
      collections: [{ name: 'sdk_js_draft', fields: [{ name: 'x', type: 'text' }] }],
    };
    const result = await client.schema.import(draft, { dryRun: true });
    assert.equal(result.dry_run, true);
    assert.equal(result.changes[0].action, 'create');
    const error = await baasErrorOf(client.collections.get('sdk_js_draft'));
    assert.equal(error.status, 404);
  });

  test('a record goes through create, get, update and delete', async () => {
    const record = await posts.create({ title: 'hello', rank: 1 });
    assert.equal(record.title, 'hello');
    assert.ok(record.id && record.created && record.updated);

    assert.deepEqual(await posts.get(record.id), record);
    const changed = await posts.update(record.id, { title: 'changed' });
    assert.equal(changed.title, 'changed');
    assert.equal(changed.rank, 1);

    assert.equal(await posts.delete(record.id), undefined);
    const error = await baasErrorOf(posts.get(record.id));
    assert.equal(error.status, 404);
    assert.equal(error.errors[0].code, error.code);
  });

  test('a validation error names its code and field', async () => {
    const error = await baasErrorOf(posts.create({ rank: 2 }));
    assert.equal(error.status, 400);
    assert.equal(error.code, 'required');
    assert.equal(error.param, 'title');
    assert.ok(error.message);
  });

  test('lists page by cursor, by page number, with a count, and iterate walks them all', async () => {
    const made = [];
    for (let i = 0; i < 5; i += 1) made.push(await posts.create({ title: `p${i}`, rank: i }));
    const newestFirst = made.map((r) => r.id).reverse();

    const first = await posts.list({ limit: 2, count: true });
    assert.equal(first.items.length, 2);
    assert.equal(first.total, 5);
    assert.equal(typeof first.next_cursor, 'string');
    const second = await posts.list({ limit: 2, cursor: first.next_cursor });
    assert.deepEqual(second.items.map((r) => r.id), newestFirst.slice(2, 4));
    const plain = await posts.list();
    assert.equal(plain.total, undefined);
    assert.equal(plain.next_cursor, null);

    const third = await posts.list({ limit: 2, page: 3 });
    assert.deepEqual(third.items.map((r) => r.id), newestFirst.slice(4));

    const seen = [];
    for await (const record of posts.iterate({ limit: 2 })) seen.push(record.id);
    assert.deepEqual(seen, newestFirst);

    const error = await baasErrorOf(posts.list({ limit: 501 }));
    assert.equal(error.param, 'limit');
  });

  test('refresh rotates the tokens, and a rejected access token is refreshed once', async () => {
    const before = client.auth.refreshToken;
    const tokens = await client.auth.refresh();
    assert.ok(tokens.accessToken);
    assert.notEqual(tokens.refreshToken, before);
    assert.equal(client.auth.refreshToken, tokens.refreshToken);

    await client.auth.setTokens({ accessToken: 'not-a-jwt', refreshToken: tokens.refreshToken });
    const page = await posts.list({ limit: 1 });
    assert.ok(Array.isArray(page.items));
    assert.notEqual(client.auth.accessToken, 'not-a-jwt');
    assert.notEqual(client.auth.refreshToken, tokens.refreshToken);
  });

  test('a spent refresh token is refused, and the 401 surfaces with the tokens cleared', async () => {
    const other = createClient({ baseUrl: BAAS_URL });
    await other.auth.login(BAAS_EMAIL, BAAS_PASSWORD);
    const spent = other.auth.refreshToken;
    await other.auth.refresh();
    const stale = createClient({ baseUrl: BAAS_URL, token: 'not-a-jwt', refreshToken: spent });
    const error = await baasErrorOf(stale.collections.list());
    assert.equal(error.status, 401);
    assert.equal(stale.auth.accessToken, null);
    assert.equal(stale.auth.refreshToken, null);
  });

  test('no credentials is a 401 on schema endpoints', async () => {
    const anonymous = createClient({ baseUrl: BAAS_URL });
    const error = await baasErrorOf(anonymous.collections.list());
    assert.equal(error.status, 401);
  });

  test('an API key with the right scopes reads records', { skip: !BAAS_API_KEY && 'BAAS_API_KEY is not set' }, async () => {
    const service = createClient({ baseUrl: BAAS_URL, apiKey: BAAS_API_KEY });
    const created = await service.collection(COLLECTION).create({ title: 'from a key' });
    const page = await service.collection(COLLECTION).list({ limit: 500 });
    assert.ok(page.items.some((r) => r.id === created.id));
  });

  test('deleting the collection makes it 404', async () => {
    await client.collections.delete(COLLECTION);
    const error = await baasErrorOf(client.collections.get(COLLECTION));
    assert.equal(error.status, 404);
    assert.equal(error.code, 'collection_not_found');
  });
});
