// Files against a real server: BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD (a superuser). Uploads
// with create/update and modifiers, downloads and thumbnails by files.url, a protected file
// by file token, and what the server refuses. Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BaasError, createClient, newIdempotencyKey } from '../index.js';
import { baasErrorOf } from './helpers.mjs';

const { BAAS_URL, BAAS_EMAIL, BAAS_PASSWORD } = process.env;
const FILES = 'sdk_js_files';
const OPEN_RULES = { list: '', view: '', create: '', update: '', delete: '' };
// A real 120x80 PNG (made with Pillow), so the server can make thumbnails of it.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAHgAAABQCAIAAABd+SbeAAAAy0lEQVR4nO3QQRHAIADAMEAI/qUgCxUrjyUKep1n78H31uuAvzA6YnTE6IjREaMjRkeMjhgdMTpidMToiNERoyNGR4yOGB0xOmJ0xOiI0RGjI0ZHjI4YHTE6YnTE6IjREaMjRkeMjhgdMTpidMToiNERoyNGR4yOGB0xOmJ0xOiI0RGjI0ZHjI4YHTE6YnTE6IjREaMjRkeMjhgdMTpidMToiNERoyNGR4yOGB0xOmJ0xOiI0RGjI0ZHjI4YHTE6YnTE6IjREaMjRkcuTHwBpGJ29zYAAAAASUVORK5CYII=',
  'base64',
);

/** True for a stored name: the sanitised base, a random suffix, the extension if any. */
function stored(name, base, ext) {
  return new RegExp(`^${base}_[a-z0-9]{10}${ext ? `\\.${ext}` : ''}$`).test(name);
}

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [view.getUint32(16), view.getUint32(20)];
}

describe('files against a live server', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  const client = createClient({ baseUrl: BAAS_URL ?? 'http://unused' });
  const files = client.collection(FILES);

  before(async () => {
    await client.auth.login(BAAS_EMAIL, BAAS_PASSWORD);
    await client.collections.create({
      name: FILES,
      rules: OPEN_RULES,
      fields: [
        { name: 'title', type: 'text' },
        {
          name: 'avatar',
          type: 'file',
          options: {
            multiple: false, max_size: 1048576, mime_types: ['image/png'], thumbs: ['50x50'], protected: false,
          },
        },
        { name: 'docs', type: 'file', options: { multiple: true } },
        { name: 'secret', type: 'file', options: { protected: true } },
      ],
    });
  });

  after(async () => {
    try {
      await client.collections.delete(FILES);
    } catch (error) {
      if (!(error instanceof BaasError && error.status === 404)) throw error;
    }
  });

  test('a File uploads with create; files.url downloads it, a thumb and an attachment', async () => {
    const seen = [];
    const record = await files.create(
      { title: 'x', avatar: new File([PNG], 'me.png', { type: 'image/png' }) },
      { onUploadProgress: (p) => seen.push(p) },
    );
    assert.equal(record.title, 'x');
    assert.ok(stored(record.avatar, 'me', 'png'), record.avatar);
    assert.deepEqual(record.docs, []);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].loaded, seen[0].total);

    const response = await fetch(client.files.url(FILES, record.id, record.avatar));
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), PNG);
    assert.equal(response.headers.get('content-type'), 'image/png');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.match(response.headers.get('content-security-policy'), /sandbox/);
    assert.match(response.headers.get('content-disposition'), /^inline/);

    const saved = await fetch(client.files.url(FILES, record.id, record.avatar, { download: true }));
    assert.match(saved.headers.get('content-disposition'), /^attachment/);
    await saved.arrayBuffer();

    const thumb = await fetch(client.files.url(FILES, record.id, record.avatar, { thumb: '50x50' }));
    assert.equal(thumb.status, 200);
    assert.deepEqual(pngSize(Buffer.from(await thumb.arrayBuffer())), [50, 50]);

    const refused = await fetch(client.files.url(FILES, record.id, record.avatar, { thumb: '10x10' }));
    assert.equal(refused.status, 400);
    assert.equal((await refused.json()).errors[0].code, 'thumb_not_allowed');
  });

  test('a single file is replaced by an upload and removed by null', async () => {
    // A Blob has no name: the SDK sends "file" (the server adds no extension).
    let record = await files.create({ avatar: new Blob([PNG]) });
    const first = record.avatar;
    assert.ok(stored(first, 'file', ''), first);
    record = await files.update(record.id, { avatar: new File([PNG], 'me.png') });
    assert.ok(stored(record.avatar, 'me', 'png'));
    const gone = await fetch(client.files.url(FILES, record.id, first));
    assert.equal(gone.status, 404);
    await gone.arrayBuffer();
    record = await files.update(record.id, { avatar: null });
    assert.equal(record.avatar, null);
  });

  test('multiple files are set, appended, removed and reordered with modifiers', async () => {
    const text = (name, content) => new File([content], name, { type: 'text/plain' });
    let record = await files.create({ docs: [text('a.txt', 'alpha'), text('b.txt', 'bravo')] });
    const [a, b] = record.docs;
    assert.ok(stored(a, 'a', 'txt') && stored(b, 'b', 'txt'), record.docs.join());

    record = await files.update(record.id, { 'docs+': [text('c.txt', 'charlie')] });
    assert.equal(record.docs.length, 3);
    assert.deepEqual(record.docs.slice(0, 2), [a, b]);
    const c = record.docs[2];
    const download = await fetch(client.files.url(FILES, record.id, c));
    assert.equal(await download.text(), 'charlie');

    record = await files.update(record.id, { 'docs-': [a] });
    assert.deepEqual(record.docs, [b, c]);
    record = await files.update(record.id, { docs: [c, b] });
    assert.deepEqual(record.docs, [c, b]);
    record = await files.update(record.id, { 'docs-': b, title: 'kept one' });
    assert.deepEqual([record.docs, record.title], [[c], 'kept one']);
    record = await files.update(record.id, { docs: [] });
    assert.deepEqual(record.docs, []);
  });

  test('the server judges the type by content, and the size', async () => {
    let error = await baasErrorOf(files.create({ avatar: new File(['just some text'], 'fake.png', { type: 'image/png' }) }));
    assert.deepEqual([error.status, error.code, error.param], [400, 'file_type_not_allowed', 'avatar']);

    const tooBig = Buffer.concat([PNG, Buffer.alloc(1048576 + 1 - PNG.length)]);
    error = await baasErrorOf(files.create({ avatar: new File([tooBig], 'big.png') }));
    assert.deepEqual([error.status, error.code, error.param], [413, 'file_too_large', 'avatar']);
  });

  test('a protected file needs a file token', async () => {
    const record = await files.create({ secret: new File(['for my eyes'], 'notes.txt') });
    const anonymous = await fetch(client.files.url(FILES, record.id, record.secret));
    assert.equal(anonymous.status, 401);
    assert.equal((await anonymous.json()).errors[0].code, 'file_token_required');

    const token = await client.files.getToken();
    assert.equal(await client.files.getToken(), token);
    const allowed = await fetch(client.files.url(FILES, record.id, record.secret, { token }));
    assert.equal(allowed.status, 200);
    assert.equal(await allowed.text(), 'for my eyes');
  });

  test('a retried upload with its idempotency key runs once', async () => {
    const key = newIdempotencyKey();
    const data = () => ({ title: 'once', avatar: new File([PNG], 'me.png') });
    const first = await files.create(data(), { idempotencyKey: key });
    assert.deepEqual(await files.create(data(), { idempotencyKey: key }), first);
    assert.equal((await files.list({ filter: 'title = "once"', count: true })).total, 1);
  });

  test('direct uploads go to S3-compatible storage, or are refused without it', async () => {
    const record = await files.create({ title: 'x' });
    const upload = client.files.upload(FILES, record.id, 'docs', new File([PNG], 'me.png'));
    if (!process.env.BAAS_DIRECT_UPLOADS) {
      const error = await baasErrorOf(upload);
      assert.deepEqual([error.status, error.code], [409, 'direct_uploads_unavailable']);
      return;
    }
    const updated = await upload;
    assert.equal(updated.docs.length, 1);
    assert.ok(stored(updated.docs[0], 'me', 'png'), updated.docs[0]);
    const response = await fetch(client.files.url(FILES, record.id, updated.docs[0]));
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), PNG);
  });
});
