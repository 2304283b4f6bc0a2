/**
 * Query strings, shared by the transport and the batch operation builders.
 * @module
 */

/**
 * A query string from defined values only (no URLSearchParams: React Native's is partial).
 * @param {Record<string, string | number | boolean | null | undefined> | undefined} query
 * @returns {string}
 */
export function queryString(query) {
  if (!query) return '';
  const parts = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
