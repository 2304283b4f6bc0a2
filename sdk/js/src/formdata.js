/**
 * Record data with files → a multipart body: each file as a part named after its field
 * (modifier included: `documents+`), every other value in one `@jsonPayload` field.
 * @module
 */

import { isBlob } from './progress.js';

/** @typedef {import('../index.js').FileValue} FileValue */

/**
 * A value sent as a file: a `Blob` or `File`, or a React Native file object
 * `{uri, name, type}` (a string `uri` and a string `name` or `type`).
 * @param {unknown} value
 * @returns {value is FileValue}
 */
export function isFileValue(value) {
  if (isBlob(value)) return true;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const file = /** @type {any} */ (value);
  return typeof file.uri === 'string'
    && (typeof file.name === 'string' || typeof file.type === 'string');
}

/**
 * The files of one value: `[file]`, `[file, ...]` for a list of files, or null when the
 * value holds none. A list that mixes files with other values is refused.
 * @param {string} key
 * @param {unknown} value
 * @returns {FileValue[] | null}
 */
function filesOf(key, value) {
  if (isFileValue(value)) return [value];
  if (!Array.isArray(value) || !value.some(isFileValue)) return null;
  if (!value.every(isFileValue)) {
    throw new TypeError(
      `"${key}": a list holds either files to upload or names of stored files, not both; `
      + `send new files under "${key.replace(/[+-]$/, '')}+" to add them.`,
    );
  }
  return value;
}

/**
 * True when any value of `data` is a file or a list of files.
 * @param {Record<string, unknown> | null | undefined} data
 * @returns {boolean}
 */
export function hasFiles(data) {
  if (!data || typeof data !== 'object') return false;
  return Object.entries(data).some(([key, value]) => filesOf(key, value) !== null);
}

/**
 * The part's file name: `name` of a File or React Native file, else `"file"`.
 * @param {FileValue} file
 * @returns {string}
 */
function fileName(file) {
  const name = /** @type {any} */ (file).name;
  return typeof name === 'string' && name !== '' ? name : 'file';
}

/**
 * `data` as a `FormData` when it holds files (files as parts, the rest as the JSON of
 * `@jsonPayload`), or null when it holds none (send it as JSON).
 * @param {Record<string, unknown>} data
 * @returns {FormData | null}
 */
export function toFormData(data) {
  if (!hasFiles(data)) return null;
  const FormDataImpl = globalThis.FormData;
  if (typeof FormDataImpl !== 'function') {
    throw new TypeError('Uploading files needs a global FormData (Node >= 18, browsers, React Native).');
  }
  const form = new FormDataImpl();
  /** @type {Record<string, unknown>} */
  const payload = {};
  /** @type {[string, FileValue][]} */
  const parts = [];
  for (const [key, value] of Object.entries(data)) {
    const files = filesOf(key, value);
    if (files === null) {
      if (value !== undefined) payload[key] = value;
    } else {
      for (const file of files) parts.push([key, file]);
    }
  }
  if (Object.keys(payload).length > 0) form.append('@jsonPayload', JSON.stringify(payload));
  for (const [key, file] of parts) {
    if (isBlob(file)) form.append(key, /** @type {Blob} */ (file), fileName(file));
    // React Native's FormData sends {uri, name, type} objects as file parts.
    else form.append(key, /** @type {any} */ ({ ...file, name: fileName(file) }));
  }
  return form;
}

/**
 * Refuse files where only JSON can go (batch operations).
 * @param {Record<string, unknown> | null | undefined} data
 * @param {string} where
 */
export function assertNoFiles(data, where) {
  if (hasFiles(data)) {
    throw new TypeError(`${where}: a batch is JSON only; upload files with create() or update().`);
  }
}
