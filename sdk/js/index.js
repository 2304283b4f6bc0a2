/**
 * JavaScript client for the BaaS REST API and realtime (Node >= 18, React Native, browsers).
 * Types: index.d.ts.
 * @module
 */

export { BaasClient, createClient, newIdempotencyKey } from './src/client.js';
export { BaasError } from './src/errors.js';
export { Auth } from './src/auth.js';
export { RecordCollection } from './src/records.js';
export { Collections, Schema } from './src/schema.js';
export { Files } from './src/files.js';
export { Push } from './src/push.js';
export { Channel, Realtime, Subscription } from './src/realtime.js';
