/**
 * Records of one collection: list (cursor or page), iterate, get, create, update, delete.
 * @module
 */

/** @typedef {import('../index.js').ListOptions} ListOptions */
/** @typedef {import('../index.js').IterateOptions} IterateOptions */
/** @typedef {import('./client.js').BaasClient} BaasClient */

/**
 * `client.collection('posts')`. Records are plain objects with the system fields `id`,
 * `created`, `updated` beside the collection's own fields.
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

  /**
   * One page, newest first: `{items, next_cursor, total?}`. `limit` is the page size
   * (server default 50, max 500); pass the previous page's `next_cursor` as `cursor`, or a
   * 1-based `page` for offset paging (not both); `count: true` adds `total` (it costs).
   * @param {ListOptions} [options]
   */
  async list(options = {}) {
    // Only the parameters the server supports today; filter/sort/expand/fields come later.
    const query = {
      limit: options.limit,
      cursor: options.cursor,
      page: options.page,
      count: options.count ? 'true' : undefined,
    };
    const body = await this._client.request('GET', this._path, { query, signal: options.signal });
    /** @type {{items: any[], next_cursor: string | null, total?: number}} */
    const page = { items: body?.items ?? [], next_cursor: body?.next_cursor ?? null };
    if (typeof body?.total === 'number') page.total = body.total;
    return page;
  }

  /**
   * Every record, newest first, fetching page after page by cursor as it goes:
   * `for await (const post of client.collection('posts').iterate()) { ... }`.
   * @param {IterateOptions} [options]
   */
  async *iterate(options = {}) {
    let cursor = options.cursor;
    for (;;) {
      const page = await this.list({ limit: options.limit, cursor, signal: options.signal });
      yield* page.items;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * One record by id (`BaasError` 404 if it does not exist or is not visible).
   * @param {string} id
   */
  get(id) {
    return this._client.request('GET', this._recordPath(id));
  }

  /**
   * Create a record from field values; resolves to the record as stored.
   * @param {Partial<T> & Record<string, unknown>} data
   */
  create(data) {
    return this._client.request('POST', this._path, { body: data });
  }

  /**
   * Change the given fields of a record (a partial update); resolves to the record.
   * @param {string} id
   * @param {Partial<T> & Record<string, unknown>} data
   */
  update(id, data) {
    return this._client.request('PATCH', this._recordPath(id), { body: data });
  }

  /**
   * Delete a record.
   * @param {string} id
   * @returns {Promise<void>}
   */
  async delete(id) {
    await this._client.request('DELETE', this._recordPath(id));
  }
}
