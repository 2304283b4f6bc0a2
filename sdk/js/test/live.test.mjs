// Against a real server: BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD (a superuser), and optionally
// BAAS_API_KEY (scopes schema, records:read, records:write). Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BaasError, createClient, newIdempotencyKey } from '../index.js';
import { baasErrorOf } from './helpers.mjs';

const { BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD, BAAS_API_KEY } = process.env;
const COLLECTION = 'sdk_js_posts';
const AUTHORS = 'sdk_js_authors';
const ITEMS = 'sdk_js_items';
const OPEN_RULES = { list: '', view: '', create: '', update: '', delete: '' };

describe('the SDK against a live server', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  const client = createClient({ baseUrl: BAAS_URL ?? 'http://unused' });
  const posts = client.collection(COLLECTION);

  before(async () => {
    const result = await client.auth.login(BAAS_EMAIL, BAAS_PASSWORD);
    assert.equal(result.signedIn, true);
    assert.equal(result.user.email, BAAS_EMAIL);
    assert.ok(client.auth.accessToken);
    assert.ok(client.auth.refreshToken);
  });

  after(async () => {
    for (const name of [COLLECTION, ITEMS, AUTHORS]) {
      try {
        await client.collections.delete(name);
      } catch (error) {
        if (!(error instanceof BaasError && error.status === 404)) throw error;
      }
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

  test('fn calls a route of the server\'s hooks modules', async () => {
    const answer = await client.fn('post', 'echo/hi', { body: { n: 1 } });
    assert.deepEqual(answer, { you: BAAS_EMAIL, word: 'hi', body: { n: 1 } });
    const missing = await baasErrorOf(client.fn('GET', '/no/such/route'));
    assert.equal(missing.status, 404);
    const anonymous = createClient({ baseUrl: BAAS_URL });
    assert.equal((await baasErrorOf(anonymous.fn('POST', '/echo/x'))).status, 401);
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

  // --- query parameters, ETags, idempotency, delta sync, batch --------------------------

  const authors = client.collection(AUTHORS);
  const items = client.collection(ITEMS);

  test('a library of authors and items is set up with open rules', async () => {
    await client.collections.create({
      name: AUTHORS,
      fields: [{ name: 'name', type: 'text', required: true }, { name: 'email', type: 'email' }],
      rules: OPEN_RULES,
    });
    await client.collections.create({
      name: ITEMS,
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'rank', type: 'number' },
        { name: 'status', type: 'text' },
        { name: 'author', type: 'relation', options: { collection: AUTHORS } },
      ],
      rules: OPEN_RULES,
    });
  });

  test('filter, sort, fields, expand and count round trip', async () => {
    const ada = await authors.create({ name: 'Ada', email: 'ada@example.com' });
    const bob = await authors.create({ name: 'Bob', email: 'bob@example.com' });
    for (const [title, rank, status, author] of [
      ['b', 2, 'open', ada], ['a', 2, 'open', bob], ['c', 5, 'closed', ada], ['d', 1, 'open', ada],
    ]) {
      await items.create({ title, rank, status, author: author.id });
    }

    const page = await items.list({ filter: 'status = "open" && rank >= 2', sort: '-rank,title', count: true });
    assert.deepEqual(page.items.map((r) => r.title), ['a', 'b']);
    assert.equal(page.total, 2);
    const byList = await items.list({ filter: 'status = "open"', sort: ['rank', '-title'] });
    assert.deepEqual(byList.items.map((r) => r.title), ['d', 'b', 'a']);

    const sparse = await items.list({
      filter: 'author.name = "Ada"', sort: 'title', fields: ['title', 'author.name'], expand: 'author',
    });
    assert.deepEqual(sparse.items.map((r) => r.title), ['b', 'c', 'd']);
    const first = sparse.items[0];
    assert.deepEqual(Object.keys(first).sort(), ['expand', 'id', 'title']);
    assert.deepEqual(first.expand, { author: { id: ada.id, name: 'Ada' } });

    const walked = [];
    for await (const r of items.iterate({ sort: 'title', fields: 'title', limit: 1 })) walked.push(r.title);
    assert.deepEqual(walked, ['a', 'b', 'c', 'd']);

    const one = await items.get(first.id, { expand: ['author'], fields: 'title,author.email' });
    assert.deepEqual(one, { id: first.id, title: 'b', expand: { author: { id: ada.id, email: 'ada@example.com' } } });

    const error = await baasErrorOf(items.list({ filter: 'rank >' }));
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid_filter');
    assert.equal(error.param, 'filter');
  });

  test('ETags make reads conditional and writes optimistic (412 when stale)', async () => {
    const record = await items.create({ title: 'e', rank: 1 });
    const read = await items.getWithEtag(record.id);
    assert.deepEqual(read.record, record);
    assert.ok(read.etag);
    assert.equal(read.notModified, false);
    assert.deepEqual(await items.getWithEtag(record.id, { ifNoneMatch: read.etag }), {
      record: null, etag: read.etag, notModified: true,
    });

    const written = await items.updateWithEtag(record.id, { rank: 2 }, { ifMatch: read.etag });
    assert.equal(written.record.rank, 2);
    assert.ok(written.etag && written.etag !== read.etag);

    let error = await baasErrorOf(items.update(record.id, { rank: 3 }, { ifMatch: read.etag }));
    assert.equal(error.status, 412);
    assert.equal(error.code, 'precondition_failed');
    error = await baasErrorOf(items.delete(record.id, { ifMatch: read.etag }));
    assert.equal(error.code, 'precondition_failed');
    assert.equal((await items.get(record.id)).rank, 2);

    await items.delete(record.id, { ifMatch: written.etag });
    assert.equal((await baasErrorOf(items.get(record.id))).status, 404);
  });

  test('an ETag from a gzip-compressed answer works with ifMatch', async () => {
    const record = await items.create({ title: 'x'.repeat(300) });
    const read = await items.getWithEtag(record.id);
    const written = await items.updateWithEtag(record.id, { rank: 2 }, { ifMatch: read.etag });
    await items.delete(record.id, { ifMatch: written.etag });
  });

  test('the same idempotency key creates one record and replays the answer', async () => {
    const key = newIdempotencyKey();
    const first = await items.create({ title: 'once' }, { idempotencyKey: key });
    assert.deepEqual(await items.create({ title: 'once' }, { idempotencyKey: key }), first);
    assert.equal((await items.list({ filter: 'title = "once"', count: true })).total, 1);

    const replay = await client.send('POST', `/collections/${ITEMS}/records`, {
      body: { title: 'once' }, idempotencyKey: key,
    });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.deepEqual(replay.body, first);

    const error = await baasErrorOf(items.create({ title: 'another body' }, { idempotencyKey: key }));
    assert.equal(error.status, 409);
    assert.equal(error.code, 'idempotency_key_reused');
    await items.delete(first.id, { idempotencyKey: `${key}-delete` });
    assert.equal(await items.delete(first.id, { idempotencyKey: `${key}-delete` }), undefined);
  });

  test('changes and sync walk every page from a token', async () => {
    /** @type {Map<string, any>} */
    const local = new Map();
    const seen = [];
    const apply = (change) => {
      seen.push(change);
      if (change.op === 'upsert') local.set(change.record.id, change.record);
      else local.delete(change.id);
    };
    const doomed = await items.create({ title: 'doomed' });
    const start = await items.sync({ onChange: apply });
    assert.ok(start);
    assert.ok(local.has(doomed.id));

    const a = await items.create({ title: 'sync a' });
    const c = await items.create({ title: 'sync c' });
    await items.update(a.id, { title: 'sync a2' });
    await items.delete(doomed.id);

    const firstPage = await items.changes({ since: start, limit: 1 });
    assert.equal(firstPage.has_more, true);
    assert.equal(firstPage.changes.length, 1);

    seen.length = 0;
    const token = await items.sync({ since: start, onChange: apply, limit: 2 });
    assert.ok(token && token !== start);
    const ops = new Set(seen.map((ch) => `${ch.op}:${ch.op === 'delete' ? ch.id : ch.record.id}`));
    assert.deepEqual(ops, new Set([`upsert:${a.id}`, `upsert:${c.id}`, `delete:${doomed.id}`]));
    assert.deepEqual(seen.at(-1), { op: 'delete', id: doomed.id });
    assert.equal(local.get(a.id).title, 'sync a2');
    assert.ok(!local.has(doomed.id));

    seen.length = 0;
    // Nothing new: no changes. (The token itself may move on: on PostgreSQL it follows the
    // cluster's transaction horizon, which other writes advance.)
    assert.ok(await items.sync({ since: token, onChange: apply }));
    assert.deepEqual(seen, []);

    let error = await baasErrorOf(items.changes({ since: 'not-a-token' }));
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid_token');
    assert.equal(error.param, 'since');

    // A token ahead of the database (as after a restore from an older backup) is refused
    // like a too-old one. Tokens are opaque; this test alone builds one: "1.<txid>.<seq>".
    const [version, txid, seq] = Buffer.from(token, 'base64url').toString().split('.');
    const ahead = BigInt(txid) > 0n ? [BigInt(txid) + 1000000000n, 0n] : [0n, BigInt(seq) + 1000000n];
    const forged = Buffer.from([version, ...ahead].join('.')).toString('base64url');
    error = await baasErrorOf(items.sync({ since: forged, onChange: apply }));
    assert.equal(error.status, 410);
    assert.equal(error.code, 'resync_required');
  });

  test('a batch runs every operation, or none', async () => {
    const existing = await items.create({ title: 'existing', rank: 10 });
    const doomed = await items.create({ title: 'batch doomed' });
    const responses = await client.batch([
      items.opCreate({ title: 'batch new', rank: 11 }),
      items.opUpdate(existing.id, { rank: 12 }),
      items.opDelete(doomed.id),
      items.opGet(existing.id, { fields: 'rank' }),
      items.opList({ filter: 'rank >= 11', sort: 'rank', fields: ['title'] }),
    ]);
    assert.deepEqual(responses.map((r) => r.status), [201, 200, 204, 200, 200]);
    assert.equal(responses[0].body.title, 'batch new');
    assert.equal(responses[1].body.rank, 12);
    assert.equal(responses[2].body, null);
    assert.deepEqual(responses[3].body, { id: existing.id, rank: 12 });
    assert.deepEqual(responses[4].body.items.map((r) => r.title), ['batch new', 'existing']);
    assert.equal((await items.get(responses[0].body.id)).title, 'batch new');

    const before = (await items.list({ count: true })).total;
    const error = await baasErrorOf(client.batch([
      items.opCreate({ title: 'rolled back' }),
      items.opUpdate(existing.id, { rank: 99 }),
      items.opCreate({ rank: 3 }),
    ]));
    assert.equal(error.status, 400);
    assert.equal(error.code, 'required');
    assert.equal(error.param, 'requests.2.title');
    assert.equal((await items.list({ count: true })).total, before);
    assert.equal((await items.get(existing.id)).rank, 12);
  });

  test('deleting the collection makes it 404', async () => {
    await client.collections.delete(COLLECTION);
    const error = await baasErrorOf(client.collections.get(COLLECTION));
    assert.equal(error.status, 404);
    assert.equal(error.code, 'collection_not_found');
  });
});
