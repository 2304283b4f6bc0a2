// Without a server: a scripted fetch checks what the client sends and how it reacts.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BaasError, createClient, newIdempotencyKey } from '../index.js';

/**
 * A fetch that answers from `handler(request)` and records every request.
 * @param {(req: {method: string, url: URL, headers: Record<string, string>, body: any}) =>
 *   Answer | Promise<Answer>} handler where Answer is
 *   {status?: number, body?: unknown, headers?: Record<string, string>}
 */
function fakeFetch(handler) {
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
    const { status = 200, body, headers = {} } = await handler(request);
    const text = body === undefined ? null : JSON.stringify(body);
    return new Response(status === 204 || status === 304 ? null : text, {
      status,
      headers: { 'Content-Type': 'application/json', ...headers },
    });
  };
  return { fetch: fetchImpl, calls };
}

const LOGIN = {
  status: 200,
  data: { user: { id: 1, email: 'a@example.com' } },
  meta: { is_authenticated: true, access_token: 'access-1', refresh_token: 'refresh-1' },
};

test('the base URL gets /api/v1 once, with or without it and a trailing slash', () => {
  for (const url of ['http://h', 'http://h/', 'http://h/api/v1', 'http://h/api/v1/']) {
    assert.equal(createClient({ baseUrl: url }).baseUrl, 'http://h/api/v1');
  }
  assert.throws(() => createClient({ baseUrl: '' }), TypeError);
});

test('login sends no credential, stores the tokens, and returns the user', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: LOGIN }));
  const client = createClient({ baseUrl: 'http://h', apiKey: 'bk_x', fetch });
  const result = await client.auth.login('a@example.com', 'pw');
  assert.equal(result.signedIn, true);
  assert.equal(result.pending, null);
  assert.equal(result.user.email, 'a@example.com');
  assert.equal(calls[0].url.pathname, '/api/v1/auth/login');
  assert.equal(calls[0].headers.Authorization, undefined);
  assert.deepEqual(calls[0].body, { email: 'a@example.com', password: 'pw' });
  assert.equal(client.auth.accessToken, 'access-1');
  assert.equal(client.auth.refreshToken, 'refresh-1');
});

test('list sends only the parameters it was given', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: { items: [], next_cursor: null } }));
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('my posts');
  await posts.list();
  await posts.list({ limit: 10, cursor: 'a/b', count: true });
  await posts.list({ page: 2, count: false });
  assert.equal(calls[0].url.pathname, '/api/v1/collections/my%20posts/records');
  assert.equal(calls[0].url.search, '');
  assert.equal(calls[1].url.search, '?limit=10&cursor=a%2Fb&count=true');
  assert.equal(calls[2].url.search, '?page=2');
  assert.equal(calls[0].headers.Authorization, 'Bearer t');
});

test('an error envelope becomes a BaasError with code and param', async () => {
  const envelope = { status: 400, errors: [{ code: 'required', message: 'Required.', param: 'title' }] };
  const { fetch } = fakeFetch(() => ({ status: 400, body: envelope }));
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(client.collection('p').create({}), (error) => {
    assert.ok(error instanceof BaasError);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'required');
    assert.equal(error.param, 'title');
    assert.equal(error.message, 'Required.');
    assert.deepEqual(error.body, envelope);
    return true;
  });
});

test('an error without an envelope still gets a code', async () => {
  const { fetch } = fakeFetch(() => ({ status: 401, body: { status: 401, data: { flows: [] } } }));
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(client.auth.login('a@example.com', 'pw'), { status: 401, code: 'not_authenticated' });
});

test('a network failure is a BaasError with status 0', async () => {
  const client = createClient({
    baseUrl: 'http://h',
    fetch: async () => { throw new TypeError('fetch failed'); },
  });
  await assert.rejects(client.collections.list(), (error) => {
    assert.ok(error instanceof BaasError);
    assert.equal(error.status, 0);
    assert.equal(error.code, 'network_error');
    assert.ok(error.cause instanceof TypeError);
    return true;
  });
});

test('a 401 refreshes once, concurrent requests share the refresh, then retry', async () => {
  let refreshes = 0;
  const { fetch, calls } = fakeFetch(async (req) => {
    if (req.url.pathname.endsWith('/tokens/refresh')) {
      refreshes += 1;
      assert.deepEqual(req.body, { refresh_token: 'refresh-1' });
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { body: { status: 200, data: { access_token: 'access-2', refresh_token: 'refresh-2' } } };
    }
    if (req.headers.Authorization === 'Bearer access-2') return { body: { items: [], next_cursor: null } };
    return { status: 401, body: { status: 401, errors: [{ code: 'invalid_credentials', message: 'x' }] } };
  });
  const seen = [];
  const client = createClient({
    baseUrl: 'http://h', token: 'access-1', refreshToken: 'refresh-1', fetch,
    onTokens: (tokens) => seen.push(tokens),
  });
  const posts = client.collection('posts');
  await Promise.all([posts.list(), posts.list(), posts.list()]);
  assert.equal(refreshes, 1);
  assert.equal(calls.filter((c) => c.headers.Authorization === 'Bearer access-2').length, 3);
  assert.deepEqual(seen, [{ accessToken: 'access-2', refreshToken: 'refresh-2' }]);
});

test('a refused refresh clears the tokens and surfaces the original 401', async () => {
  const { fetch, calls } = fakeFetch((req) => {
    if (req.url.pathname.endsWith('/tokens/refresh')) return { status: 400, body: { status: 400 } };
    return { status: 401, body: { status: 401, errors: [{ code: 'invalid_credentials', message: 'x' }] } };
  });
  const client = createClient({ baseUrl: 'http://h', token: 'a', refreshToken: 'r', fetch });
  await assert.rejects(client.collections.list(), { status: 401, code: 'invalid_credentials' });
  assert.equal(client.auth.accessToken, null);
  assert.equal(client.auth.refreshToken, null);
  assert.equal(calls.length, 2);
});

test('an API key is never "refreshed"', async () => {
  const { fetch, calls } = fakeFetch(() => ({ status: 401, body: { status: 401, errors: [] } }));
  const client = createClient({ baseUrl: 'http://h', apiKey: 'bk_x', fetch });
  await assert.rejects(client.collections.list(), { status: 401 });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].headers.Authorization, 'Bearer bk_x');
});

test('tokens are loaded from storage before the first request and saved on change', async () => {
  const store = new Map([['baas.auth', JSON.stringify({ accessToken: 'saved', refreshToken: 'saved-r' })]]);
  const storage = {
    getItem: async (key) => store.get(key) ?? null,
    setItem: async (key, value) => { store.set(key, value); },
    removeItem: async (key) => { store.delete(key); },
  };
  const { fetch, calls } = fakeFetch((req) => (
    req.url.pathname.endsWith('/auth/login') ? { body: LOGIN } : { body: { items: [] } }
  ));
  const client = createClient({ baseUrl: 'http://h', storage, fetch });
  await client.collections.list();
  assert.equal(calls[0].headers.Authorization, 'Bearer saved');
  await client.auth.login('a@example.com', 'pw');
  assert.deepEqual(JSON.parse(store.get('baas.auth')), { accessToken: 'access-1', refreshToken: 'refresh-1' });
  await client.auth.clear();
  assert.equal(store.has('baas.auth'), false);
});

test('delete resolves to undefined on 204 and the schema import sends dry_run=1', async () => {
  const { fetch, calls } = fakeFetch((req) => (
    req.method === 'DELETE' ? { status: 204 } : { body: { dry_run: true, changes: [] } }
  ));
  const client = createClient({ baseUrl: 'http://h', token: 't', fetch });
  assert.equal(await client.collection('p').delete('abc'), undefined);
  await client.schema.import({ collections: [] }, { dryRun: true });
  await client.schema.import({ collections: [] });
  assert.equal(calls[0].url.pathname, '/api/v1/collections/p/records/abc');
  assert.equal(calls[1].url.search, '?dry_run=1');
  assert.equal(calls[2].url.search, '');
});

test('list and iterate send filter, sort, fields, expand (strings or lists)', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: { items: [{ id: 'a' }], next_cursor: null } }));
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('posts');
  await posts.list({ filter: 'a = "x y"', sort: ['-rank', 'title'], fields: 'title,owner.name', expand: ['owner'] });
  for await (const record of posts.iterate({ filter: 'rank > 1', sort: 'title', limit: 5 })) assert.equal(record.id, 'a');
  await posts.get('abc', { fields: ['title'], expand: 'owner,tags' });
  assert.deepEqual(Object.fromEntries(calls[0].url.searchParams), {
    filter: 'a = "x y"', sort: '-rank,title', fields: 'title,owner.name', expand: 'owner',
  });
  assert.equal(calls[1].url.search, '?filter=rank%20%3E%201&sort=title&limit=5');
  assert.equal(calls[2].url.pathname, '/api/v1/collections/posts/records/abc');
  assert.equal(calls[2].url.search, '?fields=title&expand=owner%2Ctags');
});

test('ETags: getWithEtag, a 304, If-Match on update and delete, and a 412', async () => {
  const { fetch, calls } = fakeFetch((req) => {
    if (req.method === 'GET') {
      return req.headers['If-None-Match'] === '"v1"'
        ? { status: 304, headers: { ETag: '"v1"' } }
        : { body: { id: 'a', n: 1 }, headers: { ETag: '"v1"' } };
    }
    if (req.headers['If-Match'] !== undefined && req.headers['If-Match'] !== '"v1"') {
      return { status: 412, body: { status: 412, errors: [{ code: 'precondition_failed', message: 'Changed.' }] } };
    }
    return req.method === 'DELETE' ? { status: 204 } : { body: { id: 'a', n: 2 }, headers: { ETag: '"v2"' } };
  });
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('posts');
  assert.deepEqual(await posts.getWithEtag('a'), { record: { id: 'a', n: 1 }, etag: '"v1"', notModified: false });
  assert.deepEqual(await posts.getWithEtag('a', { ifNoneMatch: '"v1"' }), { record: null, etag: '"v1"', notModified: true });
  assert.deepEqual(await posts.updateWithEtag('a', { n: 2 }, { ifMatch: '"v1"' }), { record: { id: 'a', n: 2 }, etag: '"v2"' });
  await assert.rejects(posts.update('a', { n: 3 }, { ifMatch: '"v0"' }), { status: 412, code: 'precondition_failed' });
  await assert.rejects(posts.delete('a', { ifMatch: '"v0"' }), { status: 412, code: 'precondition_failed' });
  assert.equal(await posts.delete('a', { ifMatch: '"v1"' }), undefined);
  await posts.update('a', { n: 1 });
  assert.equal(calls.at(-1).headers['If-Match'], undefined);
});

test('an idempotency key is sent as given, kept across the 401 refresh retry, never made up', async () => {
  const { fetch, calls } = fakeFetch((req) => {
    if (req.url.pathname.endsWith('/tokens/refresh')) {
      return { body: { status: 200, data: { access_token: 'access-2', refresh_token: 'refresh-2' } } };
    }
    if (req.headers.Authorization !== 'Bearer access-2') return { status: 401, body: { status: 401, errors: [] } };
    return { status: 201, body: { id: 'x' }, headers: { 'Idempotent-Replayed': 'true' } };
  });
  const client = createClient({ baseUrl: 'http://h', token: 'access-1', refreshToken: 'refresh-1', fetch });
  const key = newIdempotencyKey();
  assert.match(key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(newIdempotencyKey(), key);
  await client.collection('posts').create({ t: 1 }, { idempotencyKey: key });
  const posts = calls.filter((c) => c.url.pathname.endsWith('/records'));
  assert.deepEqual(posts.map((c) => c.headers['Idempotency-Key']), [key, key]);
  const answer = await client.send('POST', '/collections/posts/records', { body: {}, idempotencyKey: 'k' });
  assert.equal(answer.headers['idempotent-replayed'], 'true');
  await client.collection('posts').create({ t: 2 });
  assert.equal(calls.at(-1).headers['Idempotency-Key'], undefined);
});

test('sync walks pages until has_more is false and returns the last token', async () => {
  const pages = {
    '': { changes: [{ op: 'upsert', record: { id: 'a' } }], next: 't1', has_more: true },
    t1: { changes: [], next: 't2', has_more: true },
    t2: { changes: [{ op: 'delete', id: 'b' }], next: 't3', has_more: false },
  };
  const { fetch, calls } = fakeFetch((req) => ({ body: pages[req.url.searchParams.get('since') ?? ''] }));
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('posts');
  const seen = [];
  const token = await posts.sync({ onChange: async (change) => { seen.push(change); }, limit: 2 });
  assert.equal(token, 't3');
  assert.deepEqual(seen, [{ op: 'upsert', record: { id: 'a' } }, { op: 'delete', id: 'b' }]);
  assert.deepEqual(calls.map((c) => c.url.search), ['?limit=2', '?since=t1&limit=2', '?since=t2&limit=2']);
  assert.equal(calls[0].url.pathname, '/api/v1/collections/posts/changes');
  assert.deepEqual(await posts.changes({ since: 't2' }), pages.t2);
});

test('a 410 surfaces as resync_required', async () => {
  const envelope = { status: 410, errors: [{ code: 'resync_required', message: 'Sync again.', param: 'since' }] };
  const { fetch } = fakeFetch(() => ({ status: 410, body: envelope }));
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('posts');
  await assert.rejects(posts.sync({ since: 'old', onChange: () => {} }), { status: 410, code: 'resync_required', param: 'since' });
});

test('batch posts the built operations and returns the responses', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: { responses: [{ status: 204, body: null }] } }));
  const client = createClient({ baseUrl: 'http://h', token: 't', fetch });
  const posts = client.collection('my posts');
  const operations = [
    posts.opCreate({ title: 'a' }),
    posts.opUpdate('r/1', { title: 'b' }),
    posts.opDelete('r1'),
    posts.opGet('r1', { fields: ['title'], expand: 'owner' }),
    posts.opList({ filter: 'rank > 1', sort: ['-rank'], count: true }),
  ];
  assert.deepEqual(operations, [
    { method: 'POST', url: '/api/v1/collections/my%20posts/records', body: { title: 'a' } },
    { method: 'PATCH', url: '/api/v1/collections/my%20posts/records/r%2F1', body: { title: 'b' } },
    { method: 'DELETE', url: '/api/v1/collections/my%20posts/records/r1' },
    { method: 'GET', url: '/api/v1/collections/my%20posts/records/r1?fields=title&expand=owner' },
    { method: 'GET', url: '/api/v1/collections/my%20posts/records?filter=rank%20%3E%201&sort=-rank&count=true' },
  ]);
  assert.deepEqual(await client.batch(operations, { idempotencyKey: 'b1' }), [{ status: 204, body: null }]);
  assert.equal(calls[0].url.pathname, '/api/v1/batch');
  assert.equal(calls[0].headers['Idempotency-Key'], 'b1');
  assert.deepEqual(calls[0].body, { requests: operations });
});

const PENDING_VERIFY = {
  status: 401,
  data: { flows: [{ id: 'login' }, { id: 'verify_email', is_pending: true }] },
  meta: { is_authenticated: false, session_token: 'session-1' },
};

test('a pending sign-up keeps the session token and sends it to complete the flow', async () => {
  const { fetch, calls } = fakeFetch((req) => (
    req.url.pathname.endsWith('/auth/signup') ? { status: 401, body: PENDING_VERIFY } : { body: LOGIN }
  ));
  const client = createClient({ baseUrl: 'http://h', fetch });
  const pending = await client.auth.signup('a@example.com', 'pw');
  assert.deepEqual([pending.signedIn, pending.user, pending.pending], [false, null, 'verify_email']);
  assert.equal(client.auth.pending, 'verify_email');
  assert.equal(client.auth.sessionToken, 'session-1');

  const done = await client.auth.verifyEmail('123456');
  assert.equal(calls[1].url.pathname, '/api/v1/auth/email/verify');
  assert.equal(calls[1].headers['X-Session-Token'], 'session-1');
  assert.equal(calls[1].headers.Authorization, undefined);
  assert.deepEqual(calls[1].body, { key: '123456' });
  assert.equal(done.signedIn, true);
  assert.equal(client.auth.accessToken, 'access-1');
  assert.equal(client.auth.sessionToken, null);
  assert.equal(client.auth.pending, null);
});

test('a call that needs reauthentication is not refreshed and names its code', async () => {
  const reauth = {
    status: 401,
    data: { user: { id: 1 }, flows: [{ id: 'reauthenticate' }] },
    meta: { is_authenticated: true },
  };
  const { fetch, calls } = fakeFetch(() => ({ status: 401, body: reauth }));
  const client = createClient({ baseUrl: 'http://h', token: 't', refreshToken: 'r', fetch });
  await assert.rejects(client.auth.deleteAccount(), { status: 401, code: 'reauthentication_required' });
  assert.equal(calls.length, 1);
  assert.equal(client.auth.accessToken, 't');
});

test('logout treats allauth\'s 401 as done and clears the tokens', async () => {
  const { fetch, calls } = fakeFetch(() => ({
    status: 401, body: { status: 401, data: { flows: [] }, meta: { is_authenticated: false } },
  }));
  // A JWT that is still valid for an hour: no refresh before the logout.
  const claims = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
  const token = `e30.${claims}.sig`;
  const client = createClient({ baseUrl: 'http://h', token, refreshToken: 'r', fetch });
  await client.auth.logout();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].method, 'DELETE');
  assert.equal(calls[0].url.pathname, '/api/v1/auth/session');
  assert.equal(calls[0].headers.Authorization, `Bearer ${token}`);
  assert.equal(client.auth.accessToken, null);
  assert.equal(client.auth.refreshToken, null);
});

test('completing a flow with none in progress is a BaasError with status 0', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: LOGIN }));
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(client.auth.resendVerification(), { status: 0, code: 'no_pending_flow' });
  await assert.rejects(client.auth.checkPasswordResetCode('1'), { status: 0, code: 'no_pending_flow' });
  assert.equal(calls.length, 0);
});
