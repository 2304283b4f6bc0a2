// Files without a server: URLs, multipart bodies, modifiers, upload progress, file tokens
// and direct uploads, checked against a scripted fetch (and a scripted XMLHttpRequest).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { BaasError, createClient } from '../index.js';

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const RECORD = { id: 'r1', title: 'x', avatar: 'me_k3j4h5g6f7.png', docs: [] };

/**
 * A fetch that answers from `handler(request)` and records every request as a `Request`
 * (so a multipart body can be read back with `formData()`), plus its `init`.
 */
function fakeFetch(handler = () => ({ body: RECORD })) {
  const calls = [];
  /** @type {typeof fetch} */
  const fetchImpl = async (input, init = {}) => {
    const request = new Request(String(input), init);
    const call = { request, init, url: new URL(String(input)) };
    calls.push(call);
    const { status = 200, body, headers = {} } = await handler(call);
    const text = body === undefined ? null : JSON.stringify(body);
    return new Response(status === 204 ? null : text, {
      status,
      headers: { 'Content-Type': 'application/json', ...headers },
    });
  };
  return { fetch: fetchImpl, calls };
}

/** The parts of a multipart request: `[[name, value], ...]`. */
async function partsOf(request) {
  assert.match(request.headers.get('content-type'), /^multipart\/form-data; boundary=/);
  return [...(await request.formData()).entries()];
}

/** The names of the parts in order, and the decoded `@jsonPayload`. */
async function summary(request) {
  const parts = await partsOf(request);
  const payload = parts.find(([name]) => name === '@jsonPayload');
  return {
    names: parts.map(([name]) => name),
    payload: payload ? JSON.parse(payload[1]) : undefined,
    files: parts.filter(([, value]) => typeof value !== 'string'),
  };
}

const realXhr = globalThis.XMLHttpRequest;
const realFormData = globalThis.FormData;
afterEach(() => {
  globalThis.XMLHttpRequest = realXhr;
  globalThis.FormData = realFormData;
});

// --- URLs ---------------------------------------------------------------------------

test('files.url builds the download URL with thumb, token and download', () => {
  const client = createClient({ baseUrl: 'https://api.example.com/' });
  assert.equal(
    client.files.url('posts', 'r1', 'me_k3j4h5g6f7.png'),
    'https://api.example.com/api/v1/files/posts/r1/me_k3j4h5g6f7.png',
  );
  assert.equal(
    client.files.url('posts', 'r1', 'me.png', { thumb: '100x100t', token: 'a.b/c', download: true }),
    'https://api.example.com/api/v1/files/posts/r1/me.png?thumb=100x100t&token=a.b%2Fc&download=1',
  );
  assert.equal(
    client.files.url('my posts', 'r/1', 'a b#?.png', { download: false, thumb: '' }),
    'https://api.example.com/api/v1/files/my%20posts/r%2F1/a%20b%23%3F.png',
  );
});

test('files.url makes no request', () => {
  const { fetch, calls } = fakeFetch();
  createClient({ baseUrl: 'http://h', fetch }).files.url('p', 'r', 'n', { thumb: '0x50' });
  assert.equal(calls.length, 0);
});

// --- multipart bodies ---------------------------------------------------------------

test('a record without files is still sent as JSON', async () => {
  const { fetch, calls } = fakeFetch();
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('posts');
  await posts.create({ title: 'x', avatar: null, docs: [] });
  const { request } = calls[0];
  assert.equal(request.headers.get('content-type'), 'application/json');
  assert.deepEqual(await request.json(), { title: 'x', avatar: null, docs: [] });
});

test('create with a Blob sends multipart: the file as a part, the rest as @jsonPayload', async () => {
  const { fetch, calls } = fakeFetch(() => ({ status: 201, body: RECORD }));
  const client = createClient({ baseUrl: 'http://h', token: 't', fetch });
  const record = await client.collection('posts').create({
    title: 'Hello',
    rank: 2,
    tags: ['a', 'b'],
    meta: { n: 1.5, ok: true },
    avatar: new Blob([PNG], { type: 'image/png' }),
  });
  assert.deepEqual(record, RECORD);
  const { request, init } = calls[0];
  assert.equal(request.method, 'POST');
  assert.equal(request.url, 'http://h/api/v1/collections/posts/records');
  assert.equal(request.headers.get('authorization'), 'Bearer t');
  // The SDK leaves the Content-Type to the runtime, which adds the boundary.
  assert.equal(init.headers['Content-Type'], undefined);
  const { names, payload, files } = await summary(request);
  assert.deepEqual(names, ['@jsonPayload', 'avatar']);
  assert.deepEqual(payload, { title: 'Hello', rank: 2, tags: ['a', 'b'], meta: { n: 1.5, ok: true } });
  const [, file] = files[0];
  assert.equal(file.name, 'file');
  assert.equal(file.type, 'image/png');
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), PNG);
});

test('a File keeps its name, a list makes repeated parts, and modifiers stay in the names', async () => {
  const { fetch, calls } = fakeFetch();
  const posts = createClient({ baseUrl: 'http://h', token: 't', fetch }).collection('posts');
  const a = new File(['aaa'], 'a.pdf', { type: 'application/pdf' });
  const b = new File(['bb'], 'b report.pdf', { type: 'application/pdf' });
  await posts.update('r1', { docs: [a, b] });
  await posts.update('r1', { 'docs+': [a], 'docs-': ['old_k3j4h5g6f7.pdf'], title: 'y' });
  await posts.update('r1', { 'docs+': b });

  let parts = await summary(calls[0].request);
  assert.equal(calls[0].request.method, 'PATCH');
  assert.equal(calls[0].url.pathname, '/api/v1/collections/posts/records/r1');
  assert.deepEqual(parts.names, ['docs', 'docs']);
  assert.equal(parts.payload, undefined);
  assert.deepEqual(parts.files.map(([, f]) => f.name), ['a.pdf', 'b report.pdf']);
  assert.equal(await parts.files[1][1].text(), 'bb');

  parts = await summary(calls[1].request);
  assert.deepEqual(parts.names, ['@jsonPayload', 'docs+']);
  assert.deepEqual(parts.payload, { 'docs-': ['old_k3j4h5g6f7.pdf'], title: 'y' });

  parts = await summary(calls[2].request);
  assert.deepEqual(parts.names, ['docs+']);
});

test('a removal alone (null, "docs-" names, []) needs no multipart', async () => {
  const { fetch, calls } = fakeFetch();
  const posts = createClient({ baseUrl: 'http://h', fetch }).collection('posts');
  await posts.update('r1', { avatar: null, 'docs-': 'a_k3j4h5g6f7.pdf' });
  assert.equal(calls[0].request.headers.get('content-type'), 'application/json');
  assert.deepEqual(await calls[0].request.json(), { avatar: null, 'docs-': 'a_k3j4h5g6f7.pdf' });
});

test('updateWithEtag with files keeps If-Match and the Idempotency-Key', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: RECORD, headers: { ETag: '"v2"' } }));
  const posts = createClient({ baseUrl: 'http://h', fetch }).collection('posts');
  const answer = await posts.updateWithEtag('r1', { avatar: new Blob([PNG]) }, {
    ifMatch: '"v1"', idempotencyKey: 'k1',
  });
  assert.deepEqual(answer, { record: RECORD, etag: '"v2"' });
  const { request } = calls[0];
  assert.equal(request.headers.get('if-match'), '"v1"');
  assert.equal(request.headers.get('idempotency-key'), 'k1');
  assert.deepEqual((await summary(request)).names, ['avatar']);
});

test('a list mixing files and names is refused before any request', async () => {
  const { fetch, calls } = fakeFetch();
  const posts = createClient({ baseUrl: 'http://h', fetch }).collection('posts');
  await assert.rejects(posts.update('r1', { docs: ['kept.pdf', new Blob(['x'])] }), /docs\+/);
  await assert.rejects(posts.create({ docs: [new Blob(['x']), 'kept.pdf'] }), TypeError);
  assert.equal(calls.length, 0);
});

test('batch operations refuse files (a batch is JSON only)', () => {
  const posts = createClient({ baseUrl: 'http://h' }).collection('posts');
  assert.throws(() => posts.opCreate({ avatar: new Blob(['x']) }), TypeError);
  assert.throws(() => posts.opUpdate('r1', { 'docs+': [new Blob(['x'])] }), TypeError);
  assert.deepEqual(posts.opUpdate('r1', { 'docs-': ['a.pdf'] }).body, { 'docs-': ['a.pdf'] });
});

test('React Native file objects go to FormData as {uri, name, type}', async () => {
  const appended = [];
  globalThis.FormData = class FakeFormData {
    append(...args) { appended.push(args); }
  };
  const sent = [];
  const client = createClient({
    baseUrl: 'http://h',
    fetch: async (url, init) => { sent.push(init); return new Response(JSON.stringify(RECORD), { status: 201 }); },
  });
  const photo = { uri: 'file:///tmp/photo.jpg', name: 'photo.jpg', type: 'image/jpeg' };
  const scan = { uri: 'content://scan', type: 'application/pdf' };
  await client.collection('posts').create({ title: 't', avatar: photo, 'docs+': [scan] });
  assert.deepEqual(appended, [
    ['@jsonPayload', '{"title":"t"}'],
    ['avatar', { uri: 'file:///tmp/photo.jpg', name: 'photo.jpg', type: 'image/jpeg' }],
    ['docs+', { uri: 'content://scan', type: 'application/pdf', name: 'file' }],
  ]);
  assert.ok(sent[0].body instanceof globalThis.FormData);
  assert.equal(sent[0].headers['Content-Type'], undefined);
});

test('an object with a uri but neither name nor type is a JSON value', async () => {
  const { fetch, calls } = fakeFetch();
  await createClient({ baseUrl: 'http://h', fetch }).collection('posts').create({ link: { uri: 'https://x' } });
  assert.deepEqual(await calls[0].request.json(), { link: { uri: 'https://x' } });
});

// --- errors -------------------------------------------------------------------------

test('a 413 file_too_large is a BaasError naming the field', async () => {
  const envelope = { status: 413, errors: [{ code: 'file_too_large', message: 'Too large.', param: 'avatar' }] };
  const { fetch } = fakeFetch(() => ({ status: 413, body: envelope }));
  const posts = createClient({ baseUrl: 'http://h', fetch }).collection('posts');
  await assert.rejects(posts.create({ avatar: new Blob([PNG]) }), (error) => {
    assert.ok(error instanceof BaasError);
    assert.equal(error.status, 413);
    assert.equal(error.code, 'file_too_large');
    assert.equal(error.param, 'avatar');
    return true;
  });
});

test('a 401 on an upload refreshes the token and sends the same multipart again', async () => {
  const { fetch, calls } = fakeFetch(({ url, request }) => {
    if (url.pathname.endsWith('/tokens/refresh')) {
      return { body: { status: 200, data: { access_token: 'a2', refresh_token: 'r2' } } };
    }
    if (request.headers.get('authorization') === 'Bearer a2') return { status: 201, body: RECORD };
    return { status: 401, body: { status: 401, errors: [{ code: 'invalid_credentials', message: 'x' }] } };
  });
  const client = createClient({ baseUrl: 'http://h', token: 'a1', refreshToken: 'r1', fetch });
  await client.collection('posts').create({ title: 'x', avatar: new Blob([PNG]) });
  assert.equal(calls.length, 3);
  const retry = await summary(calls[2].request);
  assert.deepEqual(retry.names, ['@jsonPayload', 'avatar']);
  assert.deepEqual(new Uint8Array(await retry.files[0][1].arrayBuffer()), PNG);
});

// --- upload progress ----------------------------------------------------------------

/**
 * Install a scripted XMLHttpRequest: each request answers `respond(xhr)` →
 * {status, body, headers} after two upload progress events.
 */
function installXhr(respond) {
  const requests = [];
  class FakeXhr {
    constructor() {
      this.upload = {};
      this.headers = {};
      this.status = 0;
      requests.push(this);
    }
    open(method, url, async) { Object.assign(this, { method, url, async }); }
    setRequestHeader(name, value) { this.headers[name] = value; }
    getAllResponseHeaders() {
      return Object.entries(this.responseHeaders).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    }
    abort() { queueMicrotask(() => this.onabort?.()); }
    send(body) {
      this.body = body;
      queueMicrotask(async () => {
        const answer = await respond(this);
        if (answer === 'network-error') { this.onerror?.(); return; }
        const total = 1000;
        this.upload.onprogress?.({ lengthComputable: true, loaded: 400, total });
        this.upload.onprogress?.({ lengthComputable: false, loaded: 700, total: 0 });
        this.upload.onprogress?.({ lengthComputable: true, loaded: total, total });
        this.status = answer.status ?? 200;
        this.statusText = 'OK';
        this.responseText = answer.body === undefined ? '' : JSON.stringify(answer.body);
        this.responseHeaders = { 'content-type': 'application/json', ...(answer.headers ?? {}) };
        this.onload?.();
      });
    }
  }
  globalThis.XMLHttpRequest = FakeXhr;
  return requests;
}

test('onUploadProgress sends by XMLHttpRequest where it exists and reports progress', async () => {
  const xhrs = installXhr(() => ({ status: 201, body: RECORD, headers: { etag: '"v1"' } }));
  const { fetch, calls } = fakeFetch();
  const client = createClient({ baseUrl: 'http://h', token: 't', fetch, headers: { 'X-App': 'demo' } });
  const seen = [];
  const record = await client.collection('posts').create(
    { title: 'x', avatar: new Blob([PNG]) },
    { onUploadProgress: (p) => seen.push(p), idempotencyKey: 'k' },
  );
  assert.deepEqual(record, RECORD);
  assert.equal(calls.length, 0, 'fetch is not used');
  assert.deepEqual(seen, [{ loaded: 400, total: 1000 }, { loaded: 1000, total: 1000 }]);
  const [xhr] = xhrs;
  assert.equal(xhr.method, 'POST');
  assert.equal(xhr.url, 'http://h/api/v1/collections/posts/records');
  assert.equal(xhr.async, true);
  assert.deepEqual(xhr.headers, {
    Accept: 'application/json', 'X-App': 'demo', Authorization: 'Bearer t', 'Idempotency-Key': 'k',
  });
  assert.ok(xhr.body instanceof FormData);
  assert.deepEqual([...xhr.body.keys()], ['@jsonPayload', 'avatar']);
});

test('over XMLHttpRequest, errors map and a 401 refreshes exactly as over fetch', async () => {
  const xhrs = installXhr((xhr) => {
    if (xhr.url.endsWith('/tokens/refresh')) throw new Error('the refresh goes by fetch');
    if (xhr.headers.Authorization === 'Bearer a2') {
      return { status: 413, body: { status: 413, errors: [{ code: 'file_too_large', message: 'm', param: 'avatar' }] } };
    }
    return { status: 401, body: { status: 401, errors: [{ code: 'invalid_credentials', message: 'x' }] } };
  });
  const { fetch, calls } = fakeFetch(() => ({
    body: { status: 200, data: { access_token: 'a2', refresh_token: 'r2' } },
  }));
  const client = createClient({ baseUrl: 'http://h', token: 'a1', refreshToken: 'r1', fetch });
  await assert.rejects(
    client.collection('posts').update('r1', { avatar: new Blob([PNG]) }, { onUploadProgress: () => {} }),
    { name: 'BaasError', status: 413, code: 'file_too_large', param: 'avatar' },
  );
  assert.equal(xhrs.length, 2);
  assert.equal(xhrs[0].method, 'PATCH');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url.pathname, '/api/v1/tokens/refresh');
  assert.equal(client.auth.accessToken, 'a2');
});

test('over XMLHttpRequest, a network failure is a BaasError with status 0', async () => {
  installXhr(() => 'network-error');
  const client = createClient({ baseUrl: 'http://h', fetch: async () => assert.fail('no fetch') });
  await assert.rejects(
    client.collection('posts').create({ avatar: new Blob([PNG]) }, { onUploadProgress: () => {} }),
    { name: 'BaasError', status: 0, code: 'network_error' },
  );
});

test('over XMLHttpRequest, an aborted signal rejects with the AbortError', async () => {
  installXhr(() => new Promise(() => {}));
  const client = createClient({ baseUrl: 'http://h', fetch: async () => assert.fail('no fetch') });
  const controller = new AbortController();
  const pending = client.collection('posts').create(
    { avatar: new Blob([PNG]) },
    { onUploadProgress: () => {}, signal: controller.signal },
  );
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
});

test('without XMLHttpRequest (Node), fetch sends and progress is reported once at the end', async () => {
  assert.equal(globalThis.XMLHttpRequest, undefined);
  const { fetch, calls } = fakeFetch(() => ({ status: 201, body: RECORD }));
  const client = createClient({ baseUrl: 'http://h', fetch });
  const seen = [];
  await client.collection('posts').create(
    { title: 'é', avatar: new Blob([PNG]) },
    { onUploadProgress: (p) => seen.push({ ...p, requests: calls.length }) },
  );
  const payloadBytes = Buffer.byteLength(JSON.stringify({ title: 'é' }));
  const total = payloadBytes + PNG.length;
  assert.deepEqual(seen, [{ loaded: total, total, requests: 1 }]);
});

// --- file tokens --------------------------------------------------------------------

function tokenServer(lifetimeMs = 120_000) {
  let issued = 0;
  return fakeFetch(async () => {
    issued += 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return {
      body: { token: `ft${issued}`, expires: new Date(Date.now() + lifetimeMs).toISOString() },
      headers: { Date: new Date().toUTCString() },
    };
  });
}

test('getToken asks once for a screen of images and reuses the token', async () => {
  const { fetch, calls } = tokenServer();
  const client = createClient({ baseUrl: 'http://h', token: 'access', fetch });
  const tokens = await Promise.all([1, 2, 3].map(() => client.files.getToken()));
  assert.deepEqual(tokens, ['ft1', 'ft1', 'ft1']);
  assert.equal(await client.files.getToken(), 'ft1');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].request.method, 'POST');
  assert.equal(calls[0].url.pathname, '/api/v1/files/token');
  assert.equal(calls[0].request.headers.get('authorization'), 'Bearer access');
  assert.equal(calls[0].request.body, null);
});

test('a token about to expire (within 10 s) is replaced', async () => {
  const { fetch, calls } = tokenServer(9_000);
  const client = createClient({ baseUrl: 'http://h', token: 'access', fetch });
  assert.equal(await client.files.getToken(), 'ft1');
  assert.equal(await client.files.getToken(), 'ft2');
  assert.equal(calls.length, 2);
});

test('another signed-in user gets another token', async () => {
  const { fetch, calls } = tokenServer();
  const client = createClient({ baseUrl: 'http://h', token: 'alice', fetch });
  assert.equal(await client.files.getToken(), 'ft1');
  await client.auth.setTokens({ accessToken: 'bob', refreshToken: null });
  assert.equal(await client.files.getToken(), 'ft2');
  assert.equal(calls[1].request.headers.get('authorization'), 'Bearer bob');
});

test('getToken rejects with the server error and caches nothing', async () => {
  let fail = true;
  const { fetch } = fakeFetch(() => (fail
    ? { status: 401, body: { status: 401, errors: [{ code: 'not_authenticated', message: 'x' }] } }
    : { body: { token: 'ok', expires: new Date(Date.now() + 120_000).toISOString() } }));
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(client.files.getToken(), { status: 401, code: 'not_authenticated' });
  fail = false;
  assert.equal(await client.files.getToken(), 'ok');
});

// --- direct uploads -----------------------------------------------------------------

function storageServer({ storageStatus = 200 } = {}) {
  return fakeFetch(({ url }) => {
    if (url.host === 'bucket.example.com') return { status: storageStatus, body: storageStatus === 200 ? undefined : '<Error/>' };
    if (url.pathname === '/api/v1/files/uploads') {
      return {
        status: 201,
        body: {
          id: 'up 1', method: 'PUT', url: 'https://bucket.example.com/k/report.pdf?X-Amz-Signature=s',
          headers: { 'Content-Type': 'application/pdf' }, expires: '2026-12-07T10:00:00.000Z',
        },
      };
    }
    return { body: { ...RECORD, docs: ['report_k3j4h5g6f7.pdf'] } };
  });
}

test('files.upload begins, PUTs the exact bytes with exactly the given headers, completes', async () => {
  const { fetch, calls } = storageServer();
  const client = createClient({ baseUrl: 'http://h', token: 't', fetch });
  const file = new File([PNG], 'report.pdf', { type: 'application/x-whatever' });
  const seen = [];
  const record = await client.files.upload('posts', 'r1', 'docs', file, { onUploadProgress: (p) => seen.push(p) });
  assert.deepEqual(record.docs, ['report_k3j4h5g6f7.pdf']);
  assert.equal(calls.length, 3);

  const [begin, put, complete] = calls;
  assert.equal(begin.url.pathname, '/api/v1/files/uploads');
  assert.equal(begin.request.headers.get('authorization'), 'Bearer t');
  assert.deepEqual(await begin.request.json(), {
    collection: 'posts', record: 'r1', field: 'docs', name: 'report.pdf', size: PNG.length,
  });

  assert.equal(put.request.method, 'PUT');
  assert.equal(put.request.url, 'https://bucket.example.com/k/report.pdf?X-Amz-Signature=s');
  assert.deepEqual(put.init.headers, { 'Content-Type': 'application/pdf' });
  assert.deepEqual([...put.request.headers.keys()], ['content-type']);
  assert.equal(put.request.headers.get('content-type'), 'application/pdf');
  assert.deepEqual(new Uint8Array(await put.request.arrayBuffer()), PNG);
  assert.deepEqual(seen, [{ loaded: PNG.length, total: PNG.length }]);

  assert.equal(complete.request.method, 'POST');
  assert.equal(complete.url.pathname, '/api/v1/files/uploads/up%201/complete');
  assert.equal(complete.request.headers.get('authorization'), 'Bearer t');
});

test('files.upload takes a name for a Blob and needs one', async () => {
  const { fetch, calls } = storageServer();
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(client.files.upload('posts', 'r1', 'docs', new Blob([PNG])), TypeError);
  assert.equal(calls.length, 0);
  await client.files.upload('posts', 'r1', 'docs', new Blob([PNG]), { name: 'scan.pdf' });
  assert.equal((await calls[0].request.json()).name, 'scan.pdf');
});

test('a storage refusal is a BaasError upload_failed, and nothing is completed', async () => {
  const { fetch, calls } = storageServer({ storageStatus: 403 });
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(
    client.files.upload('posts', 'r1', 'docs', new File([PNG], 'a.pdf')),
    { name: 'BaasError', status: 403, code: 'upload_failed' },
  );
  assert.equal(calls.length, 2);
});

test('on local storage the first call is 409 direct_uploads_unavailable', async () => {
  const { fetch, calls } = fakeFetch(() => ({
    status: 409,
    body: { status: 409, errors: [{ code: 'direct_uploads_unavailable', message: 'Local storage.' }] },
  }));
  const client = createClient({ baseUrl: 'http://h', fetch });
  await assert.rejects(
    client.files.upload('posts', 'r1', 'docs', new File([PNG], 'a.pdf')),
    { status: 409, code: 'direct_uploads_unavailable' },
  );
  assert.equal(calls.length, 1);
});
