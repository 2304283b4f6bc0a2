/**
 * Collection definitions and the whole-schema document (superusers, `schema` API keys).
 * @module
 */

/** @typedef {import('../index.js').CollectionDefinition} CollectionDefinition */
/** @typedef {import('../index.js').CollectionInput} CollectionInput */
/** @typedef {import('../index.js').SchemaDocument} SchemaDocument */
/** @typedef {import('../index.js').SchemaImportResult} SchemaImportResult */
/** @typedef {import('../index.js').WriteOptions} WriteOptions */
/** @typedef {import('./client.js').BaasClient} BaasClient */

/**
 * `client.collections`: read and change collection definitions. Changes take an optional
 * `idempotencyKey`, as record writes do.
 */
export class Collections {
  /** @param {BaasClient} client */
  constructor(client) {
    this._client = client;
  }

  /**
   * Every collection definition.
   * @returns {Promise<CollectionDefinition[]>}
   */
  async list() {
    const body = await this._client.request('GET', '/collections');
    return body?.items ?? [];
  }

  /**
   * One definition by name.
   * @param {string} name
   * @returns {Promise<CollectionDefinition>}
   */
  get(name) {
    return this._client.request('GET', `/collections/${encodeURIComponent(name)}`);
  }

  /**
   * Create a collection (and its table); resolves to the definition with ids assigned.
   * A new collection's rules are all `null`: superusers and keys only until rules are set.
   * @param {CollectionInput} definition
   * @param {WriteOptions} [options]
   * @returns {Promise<CollectionDefinition>}
   */
  create(definition, options = {}) {
    return this._client.request('POST', '/collections', {
      body: definition,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
  }

  /**
   * Change a collection. A `fields` list replaces the fields: keep a field's `id` to keep
   * (or rename) it, leave one out to remove it, omit `id` to add one.
   * @param {string} name
   * @param {Partial<CollectionInput>} changes
   * @param {WriteOptions} [options]
   * @returns {Promise<CollectionDefinition>}
   */
  update(name, changes, options = {}) {
    return this._client.request('PATCH', `/collections/${encodeURIComponent(name)}`, {
      body: changes,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
  }

  /**
   * Drop a collection and all its records.
   * @param {string} name
   * @param {WriteOptions} [options]
   * @returns {Promise<void>}
   */
  async delete(name, options = {}) {
    await this._client.request('DELETE', `/collections/${encodeURIComponent(name)}`, {
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
  }
}

/** `client.schema`: export every collection as one document, or import one. */
export class Schema {
  /** @param {BaasClient} client */
  constructor(client) {
    this._client = client;
  }

  /**
   * `{version: 1, collections: [...]}`.
   * @returns {Promise<SchemaDocument>}
   */
  export() {
    return this._client.request('GET', '/schema');
  }

  /**
   * Create or update the listed collections in one transaction (others untouched). With
   * `dryRun: true` nothing is applied and `changes` is the diff that would be.
   * @param {SchemaDocument} document
   * @param {{dryRun?: boolean} & WriteOptions} [options]
   * @returns {Promise<SchemaImportResult>}
   */
  import(document, options = {}) {
    return this._client.request('POST', '/schema/import', {
      query: { dry_run: options.dryRun ? '1' : undefined },
      body: document,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
  }
}
