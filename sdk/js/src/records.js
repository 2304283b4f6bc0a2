/**
 * Records of one collection: list (filter, sort, fields, expand; cursor or page),
 * iterate, get (with its ETag), create, update and delete (with If-Match and
 * Idempotency-Key), delta sync, and the operations of a batch.
 * @module
 */

import { assertNoFiles, toFormData } from './formdata.js';
import { queryString } from './query.js';

/** @typedef {import('../index.js').ListOptions} ListOptions */
/** @typedef {import('../index.js').IterateOptions} IterateOptions */
/** @typedef {import('../index.js').GetOptions} GetOptions */
/** @typedef {import('../index.js').GetWithEtagOptions} GetWithEtagOptions */
/** @typedef {import('../index.js').WriteOptions} WriteOptions */
/** @typedef {import('../index.js').ConditionalWriteOptions} ConditionalWriteOptions */
/** @typedef {import('../index.js').RecordWriteOptions} RecordWriteOptions */
/** @typedef {import('../index.js').ConditionalRecordWriteOptions} ConditionalRecordWriteOptions */
/** @typedef {import('../index.js').ChangesOptions} ChangesOptions */
/** @typedef {import('../index.js').BatchOperation} BatchOperation */
/** @typedef {import('../index.js').BatchListOptions} BatchListOptions */
/** @typedef {import('./client.js').BaasClient} BaasClient */

/**
 * `'a,b'` or `['a', 'b']` → `'a,b'`; `undefined`/`null` stays `undefined` (not sent).
 * @param {string | readonly string[] | null | undefined} value
 * @returns {string | undefined}
 */
function names(value) {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : value.join(',');
}

/**
 * The query of a list: only the parameters that were given.
 * @param {ListOptions} options
 */
function listQuery(options) {
  return {
    filter: options.filter,
    sort: names(options.sort),
    fields: names(options.fields),
    expand: names(options.expand),
    limit: options.limit,
    cursor: options.cursor,
    page: options.page,
    count: options.count ? 'true' : undefined,
  };
}

/**
 * Request headers for an optional If-Match.
 * @param {string | undefined} ifMatch
 * @returns {Record<string, string> | undefined}
 */
function ifMatchHeader(ifMatch) {
  return ifMatch === undefined || ifMatch === null ? undefined : { 'If-Match': ifMatch };
}

/**
 * The request options of a record write: a multipart body when `data` holds files, JSON
 * otherwise.
 * @param {Record<string, unknown>} data
 * @param {RecordWriteOptions & {ifMatch?: string}} options
 */
function writeOptions(data, options) {
  return {
    body: toFormData(data) ?? data,
    headers: ifMatchHeader(options.ifMatch),
    idempotencyKey: options.idempotencyKey,
    signal: options.signal,
    onUploadProgress: options.onUploadProgress,
  };
}

/**
 * `client.collection('posts')`. Records are plain objects with the system fields `id`,
 * `created`, `updated` beside the collection's own fields, and `expand` (related records
 * by relation name) when asked for.
 *
 * Writes take an optional `idempotencyKey` (sent as `Idempotency-Key`): the server runs
 * the request once and replays its first answer to a retry with the same key and body.
 * The client never retries on its own (only once after a token refresh on 401, which is
 * safe); to retry after a network error, make one key per logical operation
 * (`newIdempotencyKey()`) and pass it on every attempt.
 * @template {object} [T=Record<string, unknown>]
 */
export class RecordCollection {
  /**
   * @param {BaasClient} client
   * @param {string} name
   */
  constructor(client, name) {
    this._client = client;
    /** @type {string} */
    this.name = name;
    this._path = `/collections/${encodeURIComponent(name)}/records`;
  }

  /**
   * @param {string} id
   * @returns {string}
   */
  _recordPath(id) {
    return `${this._path}/${encodeURIComponent(id)}`;
  }

  // --- reading ---------------------------------------------------------------------------

  /**
   * One page of the records the caller may list: `{items, next_cursor, total?}`.
   * - `filter`: an expression, e.g. `status = "open" && priority >= 4` (a 400
   *   `invalid_filter` names the position).
   * - `sort`: `'-priority,title'` or `['-priority', 'title']`; default `-created`.
   * - `fields`: sparse fieldsets, `'title,status'` (`id` always comes); dotted names pick
   *   fields of expanded relations (`'title,owner.email'`).
   * - `expand`: relations to embed under each record's `expand`, `'owner,owner.team'`.
   * - `limit` (server default 50, max 500); the previous page's `next_cursor` as `cursor`
   *   (same `sort`), or a 1-based `page` (not both); `count: true` adds `total` (it costs).
   * @param {ListOptions} [options]
   */
  async list(options = {}) {
    const body = await this._client.request('GET', this._path, {
      query: listQuery(options),
      signal: options.signal,
    });
    /** @type {{items: any[], next_cursor: string | null, total?: number}} */
    const page = { items: body?.items ?? [], next_cursor: body?.next_cursor ?? null };
    if (typeof body?.total === 'number') page.total = body.total;
    return page;
  }

  /**
   * Every matching record in `sort` order, fetching page after page by cursor as it goes:
   * `for await (const post of client.collection('posts').iterate({ filter })) { ... }`.
   * The options are those of `list()`; `limit` is the size of each page.
   * @param {IterateOptions} [options]
   */
  async *iterate(options = {}) {
    let cursor = options.cursor;
    for (;;) {
      const page = await this.list({
        filter: options.filter,
        sort: options.sort,
        fields: options.fields,
        expand: options.expand,
        limit: options.limit,
        cursor,
        signal: options.signal,
      });
      yield* page.items;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * One record by id (`BaasError` 404 if it does not exist or is not visible); `fields`
   * and `expand` work as in `list()`.
   * @param {string} id
   * @param {GetOptions} [options]
   */
  async get(id, options = {}) {
    return (await this.getWithEtag(id, options)).record;
  }

  /**
   * One record and its ETag, for optimistic concurrency or cheap re-reads:
   * `{record, etag, notModified}`. Pass the `etag` to `update(id, data, { ifMatch })` or
   * `delete(id, { ifMatch })` to write only if nobody changed the record since (else a
   * `BaasError` 412 `precondition_failed`). Read it without `fields` and `expand` for that:
   * the ETag is of the record as returned, so one of a sparse or expanded read never
   * matches. With `ifNoneMatch: etag`, an unchanged record resolves to
   * `{record: null, etag, notModified: true}` (a 304, no body).
   * @param {string} id
   * @param {GetWithEtagOptions} [options]
   */
  async getWithEtag(id, options = {}) {
    const answer = await this._client.send('GET', this._recordPath(id), {
      query: { fields: names(options.fields), expand: names(options.expand) },
      headers: options.ifNoneMatch ? { 'If-None-Match': options.ifNoneMatch } : undefined,
      signal: options.signal,
    });
    const etag = answer.headers.etag ?? null;
    if (answer.status === 304) {
      return { record: null, etag: etag ?? options.ifNoneMatch ?? null, notModified: true };
    }
    return { record: answer.body, etag, notModified: false };
  }

  // --- writing ---------------------------------------------------------------------------

  /**
   * Create a record from field values; resolves to the record as stored (201). A client
   * may choose the `id` (15 lowercase letters and digits), e.g. offline. A file field's
   * value may be a `Blob`/`File`, a React Native file object `{uri, name, type}`, or a
   * list of those (multiple fields): then the record goes as multipart (the files as
   * parts, the other values as `@jsonPayload`), and `onUploadProgress({loaded, total})`
   * reports the upload.
   * @param {Partial<T> & Record<string, unknown>} data
   * @param {RecordWriteOptions} [options]
   */
  async create(data, options = {}) {
    return this._client.request('POST', this._path, writeOptions(data, options));
  }

  /**
   * Change the given fields of a record (a partial update); resolves to the record. With
   * `ifMatch` (an ETag from `getWithEtag()` or `updateWithEtag()`), only if the record is
   * unchanged since; otherwise a `BaasError` 412 `precondition_failed`, nothing written.
   * Files as in `create()`; for a multiple file field, `'docs+': [file]` appends, `'docs-':
   * ['name.pdf']` removes stored files by name, `docs: [...]` replaces them all.
   * @param {string} id
   * @param {Partial<T> & Record<string, unknown>} data
   * @param {ConditionalRecordWriteOptions} [options]
   */
  async update(id, data, options = {}) {
    return (await this.updateWithEtag(id, data, options)).record;
  }

  /**
   * `update()` that also resolves to the record's new ETag: `{record, etag}`.
   * @param {string} id
   * @param {Partial<T> & Record<string, unknown>} data
   * @param {ConditionalRecordWriteOptions} [options]
   */
  async updateWithEtag(id, data, options = {}) {
    const answer = await this._client.send('PATCH', this._recordPath(id), writeOptions(data, options));
    return { record: answer.body, etag: answer.headers.etag ?? null };
  }

  /**
   * Delete a record. With `ifMatch`, only if it is unchanged since that ETag (else a
   * `BaasError` 412 `precondition_failed`).
   * @param {string} id
   * @param {ConditionalWriteOptions} [options]
   * @returns {Promise<void>}
   */
  async delete(id, options = {}) {
    await this._client.request('DELETE', this._recordPath(id), {
      headers: ifMatchHeader(options.ifMatch),
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
  }

  // --- delta sync ------------------------------------------------------------------------

  /**
   * One page of what changed after the token `since` (none: from the beginning, every
   * record the caller may view as it is now): `{changes, next, has_more}`. Store `next`
   * and pass it as `since` the next time; when `has_more` is true, ask again at once.
   * `limit` (1 to 500, default 100) counts change-log rows, so a page may hold fewer
   * entries. Errors: 400 `invalid_token` for a token the server did not make; 410
   * `resync_required` when the token is older than the retention of deletes: drop the
   * local copy and sync again without `since`.
   * @param {ChangesOptions} [options]
   * @returns {Promise<import('../index.js').ChangesPage<T>>}
   */
  async changes(options = {}) {
    const body = await this._client.request(
      'GET',
      `/collections/${encodeURIComponent(this.name)}/changes`,
      { query: { since: options.since || undefined, limit: options.limit }, signal: options.signal },
    );
    return {
      changes: body?.changes ?? [],
      next: body?.next ?? null,
      has_more: Boolean(body?.has_more),
    };
  }

  /**
   * Walk every page of changes after `since` until `has_more` is false, calling (and
   * awaiting) `onChange(change)` for each entry in order; resolves to the final token
   * (store it, pass it as `since` next time). Applying a change is idempotent (upsert by
   * id, delete by id), so if this stops half way, syncing again from the old token is
   * safe. A 410 `resync_required` `BaasError` means the token is too old: drop the local
   * copy and call `sync({ onChange })` without `since`. To checkpoint the token after each
   * page instead, loop over `changes()` yourself.
   * @param {import('../index.js').SyncOptions<T>} options
   * @returns {Promise<string | null>}
   */
  async sync(options) {
    if (!options || typeof options.onChange !== 'function') {
      throw new TypeError('sync: pass { since, onChange }.');
    }
    let token = options.since ?? null;
    for (;;) {
      const page = await this.changes({ since: token ?? undefined, limit: options.limit, signal: options.signal });
      for (const change of page.changes) await options.onChange(change);
      if (page.next !== null) token = page.next;
      if (!page.has_more) return token;
    }
  }

  // --- realtime --------------------------------------------------------------------------

  /**
   * Changes as they happen (over `client.realtime`): `callback({action, record, token})`
   * for each create, update and delete of a record you may see, in change-log order; a
   * delete's `record` is `{id}`. `recordId` follows one record; `filter`, `since` and
   * `onError` are those of `client.realtime.subscribe()`. Returns the `Subscription`
   * (`unsubscribe()`, `token`, `ready`).
   * @param {(event: import('../index.js').RealtimeEvent<T>) => void} callback
   * @param {import('../index.js').CollectionSubscribeOptions} [options]
   * @returns {import('./realtime.js').Subscription}
   */
  subscribe(callback, options = {}) {
    const topic = options.recordId ? `${this.name}/${options.recordId}` : this.name;
    return this._client.realtime.subscribe(topic, callback, {
      filter: options.filter,
      since: options.since,
      onError: options.onError,
    });
  }

  // --- batch operations ------------------------------------------------------------------

  /**
   * A create for `client.batch([...])` (answer: 201 and the record).
   * @param {Partial<T> & Record<string, unknown>} data
   * @returns {BatchOperation}
   */
  opCreate(data) {
    assertNoFiles(data, 'opCreate');
    return { method: 'POST', url: this._batchUrl(), body: { ...data } };
  }

  /**
   * A partial update for `client.batch([...])` (answer: 200 and the record).
   * @param {string} id
   * @param {Partial<T> & Record<string, unknown>} data
   * @returns {BatchOperation}
   */
  opUpdate(id, data) {
    assertNoFiles(data, 'opUpdate');
    return { method: 'PATCH', url: this._batchUrl(id), body: { ...data } };
  }

  /**
   * A delete for `client.batch([...])` (answer: 204, body `null`).
   * @param {string} id
   * @returns {BatchOperation}
   */
  opDelete(id) {
    return { method: 'DELETE', url: this._batchUrl(id) };
  }

  /**
   * A read of one record for `client.batch([...])`; it sees earlier operations' writes
   * (answer: 200 and the record).
   * @param {string} id
   * @param {GetOptions} [options]
   * @returns {BatchOperation}
   */
  opGet(id, options = {}) {
    return {
      method: 'GET',
      url: this._batchUrl(id, { fields: names(options.fields), expand: names(options.expand) }),
    };
  }

  /**
   * A list for `client.batch([...])` (answer: 200 and `{items, next_cursor}`).
   * @param {BatchListOptions} [options]
   * @returns {BatchOperation}
   */
  opList(options = {}) {
    return { method: 'GET', url: this._batchUrl(undefined, listQuery(options)) };
  }

  /**
   * @param {string} [id]
   * @param {Record<string, string | number | boolean | null | undefined>} [query]
   * @returns {string}
   */
  _batchUrl(id, query) {
    const path = id === undefined ? this._path : this._recordPath(id);
    return `/api/v1${path}${queryString(query)}`;
  }
}
