// Types for @baas/client (hand-written; the package ships plain ESM JavaScript).

/** One entry of the error envelope `{"status": 400, "errors": [...]}`. */
export interface ErrorItem {
  /** Stable machine-readable code, e.g. `"invalid"`, `"not_found"`, `"unique_violation"`. */
  code: string;
  /** Human-readable message. */
  message: string;
  /** The offending field or query parameter, when there is one. */
  param?: string;
}

/**
 * An error answered by the server (`status` >= 400), or a request that got no answer
 * (`status` 0: code `network_error`, `no_refresh_token` or `no_pending_flow`). `code`, `message` and `param`
 * are those of the first item of `errors`.
 */
export class BaasError extends Error {
  constructor(
    status: number,
    errors?: ErrorItem[],
    options?: { body?: unknown; headers?: Record<string, string>; cause?: unknown },
  );
  readonly name: 'BaasError';
  readonly status: number;
  readonly errors: ErrorItem[];
  readonly code: string;
  readonly param: string | undefined;
  /** The decoded response body, if any. */
  readonly body: unknown;
  /** Response headers (lower-case names), e.g. `retry-after`. */
  readonly headers: Record<string, string>;
}

/** The access/refresh token pair of a logged-in app user. */
export interface Tokens {
  accessToken: string | null;
  refreshToken: string | null;
}

/**
 * Where tokens are persisted: `localStorage`, React Native's `AsyncStorage`, or anything
 * with the same three methods (sync or async).
 */
export interface TokenStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

export interface ClientOptions {
  /** The server's origin, e.g. `https://api.example.com` (`/api/v1` is added if missing). */
  baseUrl: string;
  /** An app user's access token. */
  token?: string | null;
  /** The refresh token that goes with `token`. */
  refreshToken?: string | null;
  /** A server-side API key (`bk_...`). Never ship one in an app. */
  apiKey?: string | null;
  /** Persist tokens here; read once before the first request unless tokens were given. */
  storage?: TokenStorage | null;
  /** The key under which tokens are stored. Default `"baas.auth"`. */
  storageKey?: string;
  /** Called whenever the tokens change (login, refresh, clear). */
  onTokens?: ((tokens: Tokens) => void) | null;
  /** A fetch implementation; default the global `fetch`. */
  fetch?: typeof fetch;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /**
   * A WebSocket class for `client.realtime`; default the global `WebSocket` (browsers,
   * React Native, Node >= 22). On Node 18/20 pass one, e.g. `import { WebSocket } from 'ws'`.
   */
  WebSocket?: WebSocketConstructor;
  /** Timings of `client.realtime` (milliseconds). */
  realtime?: RealtimeOptions;
}

/** What `client.realtime` needs of a WebSocket (the standard API). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface RealtimeOptions {
  /** The first reconnect delay; it doubles on each failed attempt (with jitter). Default 500. */
  reconnectMin?: number;
  /** The longest reconnect delay. Default 30000. */
  reconnectMax?: number;
  /** How often to ping the server. Default 25000. */
  pingInterval?: number;
  /** Reconnect when nothing arrived this long after a ping (or after connecting). Default 10000. */
  pingTimeout?: number;
  /** Refresh the access token and send it again this long before it expires. Default 60000. */
  refreshBefore?: number;
}

export interface RequestOptions {
  /** Query parameters; `undefined` and `null` values are left out. */
  query?: Record<string, string | number | boolean | null | undefined>;
  /** A JSON body, or a `FormData` (sent as multipart/form-data). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as the `Idempotency-Key` header (POST, PATCH, PUT, DELETE). */
  idempotencyKey?: string;
  signal?: AbortSignal;
  /** Send the stored credential (and refresh on 401). Default true. */
  authenticate?: boolean;
  /** Report the upload of the body (by XMLHttpRequest where it exists; see `UploadProgress`). */
  onUploadProgress?: (progress: UploadProgress) => void;
}

/**
 * How much of a request body has been sent. With XMLHttpRequest (browsers, React Native)
 * it comes as the upload goes (multipart framing included); without it (Node) once, after
 * the upload, with `loaded === total` (the bytes of the files and fields).
 */
export interface UploadProgress {
  loaded: number;
  total: number;
}

/** A React Native file, e.g. from an image picker: FormData sends it as a file part. */
export interface ReactNativeFile {
  /** `file://...`, `content://...` */
  uri: string;
  /** The file name sent (the server sanitises it and adds a random suffix). */
  name?: string;
  /** The MIME type, e.g. `image/jpeg` (the server checks the content itself). */
  type?: string;
  [key: string]: unknown;
}

/** A value uploaded as a file: a `Blob` or `File`, or a React Native file object. */
export type FileValue = Blob | ReactNativeFile;

/**
 * Values of a record write. A file field takes a `FileValue` (single) or a list of them
 * (multiple; replaces the stored files), `null` removes a single field's file; keys may carry
 * the modifiers `'docs+'` (append files) and `'docs-'` (remove stored files by name).
 */
export type RecordData<T extends object = Record<string, unknown>> = {
  [K in keyof T]?: T[K] | FileValue | FileValue[] | null;
} & Record<string, unknown>;

/** The whole answer of `client.send()`. */
export interface ApiResponse<R = any> {
  status: number;
  /** The decoded JSON body; `undefined` for 204 and 304. */
  body: R;
  /** Response headers, names lower-case: `etag`, `idempotent-replayed`, ... */
  headers: Record<string, string>;
}

/** The user object allauth returns on sign-in. */
export interface User {
  id?: string | number;
  email?: string;
  display?: string;
  has_usable_password?: boolean;
  [key: string]: unknown;
}

/** One of allauth's flows in a 401 answer, e.g. `{id: "verify_email", is_pending: true}`. */
export interface AuthFlow {
  /** `login`, `signup`, `verify_email`, `mfa_authenticate`, `login_by_code`, ... */
  id: string;
  is_pending?: boolean;
  /** For `mfa_authenticate`: the second factors the user has, e.g. `["totp", "recovery_codes"]`. */
  types?: string[];
  [key: string]: unknown;
}

/**
 * Where a sign-in call left the user. `signedIn`: the client holds tokens for `user`.
 * `pending` names the next step, if any, and the call that completes it:
 * `verify_email` → `verifyEmail(code)`, `mfa_authenticate` → `mfaAuthenticate(code)`,
 * `login_by_code` → `confirmLoginCode(code)`, `password_reset_by_code` →
 * `resetPassword(code, password)`. A pending step usually means not signed in yet;
 * `upgradeGuest()` is the exception (the guest stays signed in while the new address
 * awaits its code).
 */
export interface AuthResult {
  signedIn: boolean;
  /** The signed-in user; null while not signed in. */
  user: User | null;
  pending: string | null;
  /** allauth's flows as answered. */
  flows: AuthFlow[];
}

/** One address of the account (`listEmails()`). */
export interface EmailAddress {
  email: string;
  verified: boolean;
  primary: boolean;
  [key: string]: unknown;
}

/** One device session (one sign-in) of the account (`sessions()`). */
export interface DeviceSession {
  id: number | string;
  is_current: boolean;
  /** Unix time, seconds. */
  created_at: number;
  ip: string | null;
  user_agent: string | null;
  [key: string]: unknown;
}

/** System fields every record has. */
export interface SystemFields {
  id: string;
  /** RFC 3339, UTC, millisecond precision. */
  created: string;
  updated: string;
}

export interface ExpandedRelations {
  /** A single relation's record, or a multiple relation's records, by relation name. */
  [relation: string]: BaasRecord | BaasRecord[] | undefined;
}

export type BaasRecord<T extends object = Record<string, unknown>> = T & SystemFields & {
  /** Related records, present when `expand` was asked for (those the caller may view). */
  expand?: ExpandedRelations;
};

/** Comma-separated names (`'-created,title'`) or a list of them. */
export type Names = string | readonly string[];

export interface QueryOptions {
  /** A filter expression, e.g. `status = "open" && priority >= 4`. */
  filter?: string;
  /** Sort keys, `-` for descending: `'-priority,title'`; default `-created`. */
  sort?: Names;
  /** Sparse fieldsets (`id` always comes); dotted names pick fields of expanded relations. */
  fields?: Names;
  /** Relations to embed under `expand`, nested up to 3 levels: `'owner,owner.team'`. */
  expand?: Names;
}

export interface ListOptions extends QueryOptions {
  /** Page size: server default 50, at most 500. */
  limit?: number;
  /** The previous page's `next_cursor` (keyset paging; the same `sort`). */
  cursor?: string;
  /** A 1-based page number (offset paging); not together with `cursor`. */
  page?: number;
  /** Add `total` to the answer (it costs a COUNT on the server). */
  count?: boolean;
  signal?: AbortSignal;
}

export interface IterateOptions extends QueryOptions {
  /** Page size of each request. */
  limit?: number;
  /** Start after this cursor. */
  cursor?: string;
  signal?: AbortSignal;
}

export interface GetOptions {
  fields?: Names;
  expand?: Names;
  signal?: AbortSignal;
}

export interface GetWithEtagOptions extends GetOptions {
  /** An ETag from an earlier read: an unchanged record answers 304 (`notModified`). */
  ifNoneMatch?: string;
}

export interface WriteOptions {
  /**
   * Sent as `Idempotency-Key`: a retry with the same key and body gets the first answer
   * again instead of a second effect. See `newIdempotencyKey()`.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ConditionalWriteOptions extends WriteOptions {
  /** Write only if the record's ETag is still this one; else `BaasError` 412 `precondition_failed`. */
  ifMatch?: string;
}

export interface RecordWriteOptions extends WriteOptions {
  /** Report the upload (useful with files; see `UploadProgress`). */
  onUploadProgress?: (progress: UploadProgress) => void;
}

export interface ConditionalRecordWriteOptions extends RecordWriteOptions {
  /** Write only if the record's ETag is still this one; else `BaasError` 412 `precondition_failed`. */
  ifMatch?: string;
}

export interface FileUrlOptions {
  /** A thumbnail size the field's `thumbs` option lists: `100x100`, `100x100t`, `100x100b`, `100x100f`, `0x100`, `100x0`. */
  thumb?: string;
  /** A file token (`files.getToken()`), needed for protected files. */
  token?: string;
  /** Ask for `Content-Disposition: attachment` (save rather than show). */
  download?: boolean;
}

export interface DirectUploadOptions {
  /** The file name; default the File's or React Native file's `name`. */
  name?: string;
  /** Report the upload to the storage (see `UploadProgress`). */
  onUploadProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
}

/** A record with its ETag. `record` is `null` when a conditional read found it unchanged. */
export interface VersionedRecord<T extends object = Record<string, unknown>> {
  record: BaasRecord<T> | null;
  /** The `ETag` header: an opaque validator of the record as this caller sees it. */
  etag: string | null;
  /** True when `ifNoneMatch` matched (the server answered 304). */
  notModified: boolean;
}

/** Insert or replace the record by id. */
export interface UpsertChange<T extends object = Record<string, unknown>> {
  op: 'upsert';
  record: BaasRecord<T>;
}

/** Forget this id (unknown ids are a no-op). */
export interface DeleteChange {
  op: 'delete';
  id: string;
}

export type Change<T extends object = Record<string, unknown>> = UpsertChange<T> | DeleteChange;

export interface ChangesPage<T extends object = Record<string, unknown>> {
  /** In commit order. */
  changes: Change<T>[];
  /** Pass as `since` next time. */
  next: string | null;
  /** True: more changes are ready, ask again at once. */
  has_more: boolean;
}

export interface ChangesOptions {
  /** The token of the last sync; none starts from the beginning. */
  since?: string | null;
  /** Change-log rows per page: 1 to 500, default 100. */
  limit?: number;
  signal?: AbortSignal;
}

export interface SyncOptions<T extends object = Record<string, unknown>> extends ChangesOptions {
  /** Called (and awaited) for each change, in order. */
  onChange: (change: Change<T>) => void | Promise<void>;
}

/** One operation of `client.batch()`; build it with `opCreate()` and friends. */
export interface BatchOperation {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** A record endpoint, e.g. `/api/v1/collections/posts/records/abc`, with its query. */
  url: string;
  /** The fields, for POST and PATCH only. */
  body?: Record<string, unknown> | null;
}

/** One answer of `client.batch()`: what the single request would have returned. */
export interface BatchResponse<B = any> {
  status: number;
  /** The record (create, update, get), the list page (list), or `null` (delete). */
  body: B;
}

export interface BatchListOptions extends QueryOptions {
  limit?: number;
  count?: boolean;
}

export interface ListResult<T extends object = Record<string, unknown>> {
  items: BaasRecord<T>[];
  /** Pass as `cursor` to get the next page; `null` on the last page. */
  next_cursor: string | null;
  /** Present when `count: true` was asked for. */
  total?: number;
}

export class RecordCollection<T extends object = Record<string, unknown>> {
  readonly name: string;
  list(options?: ListOptions): Promise<ListResult<T>>;
  /** Every matching record, fetching page after page by cursor: `for await (const r of ...)`. */
  iterate(options?: IterateOptions): AsyncGenerator<BaasRecord<T>, void, undefined>;
  get(id: string, options?: GetOptions): Promise<BaasRecord<T>>;
  /** The record and its ETag (for `ifMatch`); with `ifNoneMatch`, 304 → `notModified`. */
  getWithEtag(id: string, options?: GetWithEtagOptions): Promise<VersionedRecord<T>>;
  /** With file values in `data`, sent as multipart (files as parts, the rest as `@jsonPayload`). */
  create(data: RecordData<T>, options?: RecordWriteOptions): Promise<BaasRecord<T>>;
  update(
    id: string,
    data: RecordData<T>,
    options?: ConditionalRecordWriteOptions,
  ): Promise<BaasRecord<T>>;
  /** `update()` that also resolves to the new ETag. */
  updateWithEtag(
    id: string,
    data: RecordData<T>,
    options?: ConditionalRecordWriteOptions,
  ): Promise<{ record: BaasRecord<T>; etag: string | null }>;
  delete(id: string, options?: ConditionalWriteOptions): Promise<void>;
  /** One page of delta sync. 410 `resync_required`: drop the local copy, sync from scratch. */
  changes(options?: ChangesOptions): Promise<ChangesPage<T>>;
  /** Every page after `since`, `onChange` per entry; resolves to the token to store. */
  sync(options: SyncOptions<T>): Promise<string | null>;
  /** Changes as they happen, over `client.realtime` (topic `name` or `name/<recordId>`). */
  subscribe(
    callback: (event: RealtimeEvent<T>) => void,
    options?: CollectionSubscribeOptions,
  ): Subscription;
  opCreate(data: Partial<T> & Record<string, unknown>): BatchOperation;
  opUpdate(id: string, data: Partial<T> & Record<string, unknown>): BatchOperation;
  opDelete(id: string): BatchOperation;
  opGet(id: string, options?: Omit<GetOptions, 'signal'>): BatchOperation;
  opList(options?: BatchListOptions): BatchOperation;
}

export type FieldType =
  | 'text' | 'number' | 'bool' | 'email' | 'url' | 'date' | 'select' | 'json'
  | 'relation' | 'file' | 'geo'
  | (string & {});

/** `null`: superusers only; `""`: everyone; otherwise a filter expression. */
export type Rule = string | null;

export interface FieldInput {
  /** Keep a field's id in a PATCH to keep (or rename) it; omit it to add a field. */
  id?: string;
  name: string;
  type: FieldType;
  required?: boolean;
  unique?: boolean;
  hidden?: boolean;
  rules?: { read?: Rule; write?: Rule };
  options?: Record<string, unknown>;
}

export interface Field extends Required<Omit<FieldInput, 'rules'>> {
  rules: { read?: Rule; write?: Rule };
}

export interface CollectionRules {
  list?: Rule;
  view?: Rule;
  create?: Rule;
  update?: Rule;
  delete?: Rule;
}

export interface IndexDefinition {
  fields: string[];
  unique?: boolean;
}

export interface CollectionInput {
  name: string;
  type?: 'base' | 'auth';
  fields?: FieldInput[];
  rules?: CollectionRules;
  indexes?: IndexDefinition[];
}

export interface CollectionDefinition {
  id: string;
  name: string;
  type: 'base' | 'auth';
  system: boolean;
  schema_version: number;
  fields: Field[];
  rules: CollectionRules;
  indexes: Required<IndexDefinition>[];
}

export interface SchemaDocument {
  version?: number;
  collections: Array<CollectionInput | CollectionDefinition>;
}

export interface SchemaImportResult {
  dry_run: boolean;
  changes: Array<{ collection: string; action: 'create' | 'update' | 'unchanged'; [key: string]: unknown }>;
}

/** `client.files`: download URLs, file tokens and direct uploads. */
export class Files {
  /**
   * The download URL of a stored file (no request): `name` is the record's field value.
   * `https://host/api/v1/files/{collection}/{recordId}/{name}?thumb=&token=&download=1`
   */
  url(collection: string, recordId: string, name: string, options?: FileUrlOptions): string;
  /** A short-lived file token (about 2 minutes) for protected files; cached until ~10 s before it expires. */
  getToken(): Promise<string>;
  /**
   * Upload straight to S3-compatible storage through a presigned URL, then attach the file
   * to the record's field; resolves to the updated record. 409 `direct_uploads_unavailable`
   * on local storage.
   */
  upload<T extends object = Record<string, unknown>>(
    collection: string,
    recordId: string,
    field: string,
    file: FileValue,
    options?: DirectUploadOptions,
  ): Promise<BaasRecord<T>>;
}

// --- push -------------------------------------------------------------------------------

export type PushPlatform = 'fcm' | 'apns' | 'webpush';

/** A browser's Web Push subscription as the server keeps it (its `toJSON()`). */
export interface WebPushSubscriptionJson {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** A registered device of the signed-in user. */
export interface PushDevice {
  id: string;
  platform: PushPlatform;
  /** The FCM or APNs token (not for `webpush`). */
  token?: string;
  /** `webpush` only. */
  subscription?: WebPushSubscriptionJson;
  topics: string[];
  app_version: string;
  locale: string;
  timezone: string;
  /** False once a provider rejected the token (or newer devices replaced it). */
  active: boolean;
  created: string;
  updated: string;
}

/** What `push.registerDevice()` sends (camelCase here, snake_case on the wire). */
export interface DeviceRegistration {
  /** `fcm` (Android, or iOS through Firebase) or `apns` (iOS, hex token). */
  platform: PushPlatform;
  /** The token the app's messaging library gave it. */
  token?: string;
  /** For `webpush`; `registerWebPush()` makes it for you. */
  subscription?: WebPushSubscriptionJson;
  /** Replaces the device's topics when given (each one allowed by the topic rules). */
  topics?: string[];
  appVersion?: string | null;
  /** Default: the runtime's (`Intl`); `null` sends none. */
  locale?: string | null;
  /** An IANA time zone for `sendAt: {local}`; default the runtime's; `null` sends none. */
  timezone?: string | null;
}

/** The options of `push.registerWebPush()`. */
export interface WebPushOptions extends Omit<DeviceRegistration, 'platform' | 'token' | 'subscription'> {
  signal?: AbortSignal;
}

/** What `registerWebPush()` needs of a browser `PushSubscription`. */
export interface PushSubscriptionLike {
  readonly endpoint?: string;
  readonly options?: { applicationServerKey?: ArrayBuffer | ArrayBufferView | null };
  toJSON?(): { endpoint?: string; keys?: Record<string, string> };
  unsubscribe(): Promise<boolean>;
}

/** What `registerWebPush()` needs of a `ServiceWorkerRegistration`. */
export interface PushRegistrationLike {
  readonly pushManager: {
    getSubscription(): Promise<PushSubscriptionLike | null>;
    subscribe(options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }): Promise<PushSubscriptionLike>;
  };
}

export interface TopicSubscription {
  topic: string;
  /** The device ids (un)subscribed. */
  devices: string[];
  subscribed: boolean;
}

/** Exactly one of these. */
export type PushTarget =
  | { users: string[] }
  | { topic: string }
  | { devices: string[] }
  /** An expression over the users collection, e.g. `plan = 'pro'`. */
  | { filter: string };

export interface PushNotification {
  title?: string;
  body?: string;
  /** An https:// URL. */
  image?: string;
  /** iOS */
  badge?: number;
  sound?: string;
}

/** `{local: 'HH:MM'}`: that time in each device's time zone. */
export type SendAt = Date | string | { local: string };

/** What `push.send()` sends (camelCase here, snake_case on the wire). */
export interface PushMessageInput {
  to: PushTarget;
  notification?: PushNotification;
  /** Text values (FCM carries only strings). */
  data?: Record<string, string>;
  /** A `Date`, an RFC 3339 string with its offset, or `{local: 'HH:MM'}`. */
  sendAt?: SendAt | null;
  /** Seconds a provider keeps it for an offline device (0 to 28 days). */
  ttl?: number;
  /** A newer message with the same key replaces an undelivered older one. */
  collapseKey?: string;
  /** Default `high`. */
  priority?: 'high' | 'normal';
  /** Per platform, merged over what the server builds. */
  overrides?: { fcm?: Record<string, unknown>; apns?: Record<string, unknown>; webpush?: Record<string, unknown> };
}

export type PushMessageState = 'scheduled' | 'sending' | 'done' | 'cancelled';
export type PushResultState = 'queued' | 'sent' | 'failed' | 'invalid_token' | 'opened';

/** Devices per result state. */
export type PushCounts = Record<PushResultState, number>;

/** A message as the server keeps it. */
export interface PushMessage {
  id: string;
  state: PushMessageState;
  to: PushTarget;
  notification: PushNotification;
  data: Record<string, string>;
  ttl?: number;
  collapse_key?: string;
  priority?: 'high' | 'normal';
  overrides?: Record<string, Record<string, unknown>>;
  send_at: string | { local: string } | null;
  created_by: string;
  created: string;
  started: string | null;
  finished: string | null;
  /** The devices it goes to (0 until they are resolved). */
  total: number;
  /** With `status()` and `cancel()`. */
  counts?: PushCounts;
  [key: string]: unknown;
}

/** The result of a message on one device. */
export interface PushResult {
  id: string;
  device: string | null;
  user: string;
  platform: PushPlatform;
  state: PushResultState;
  reason: string;
  provider_id: string;
  attempts: number;
  /** When a queued row is due (a local time, a retry). */
  due: string | null;
  sent_at: string | null;
  opened_at: string | null;
}

/** `push.status()`: the message, its counts and one page of results. */
export interface PushMessageStatus extends PushMessage {
  counts: PushCounts;
  results: { items: PushResult[]; next_cursor: string | null };
}

export interface PushMessagePage {
  items: PushMessage[];
  next_cursor: string | null;
}

export interface ResultsOptions {
  /** Only the results in this state, e.g. `failed`. */
  state?: PushResultState;
  limit?: number;
  /** The previous page's `results.next_cursor`. */
  cursor?: string;
  signal?: AbortSignal;
}

export interface MessageListOptions {
  state?: PushMessageState;
  limit?: number;
  /** The previous page's `next_cursor`. */
  cursor?: string;
  signal?: AbortSignal;
}

/**
 * `client.push`: devices, topics and opens for app users; sending, scheduling, status and
 * cancelling for superusers and `push:send` API keys (server-side code, never an app).
 */
export class Push {
  /**
   * Register the app's FCM or APNs token for the signed-in user (again: the same device is
   * updated). `locale` and `timezone` default to the runtime's.
   */
  registerDevice(device: DeviceRegistration, options?: { signal?: AbortSignal }): Promise<PushDevice>;
  /**
   * Browsers: subscribe `registration.pushManager` with the server's VAPID key (reusing a
   * subscription made with it) and register it as a `webpush` device.
   */
  registerWebPush(registration: PushRegistrationLike, options?: WebPushOptions): Promise<PushDevice>;
  /** The VAPID public key (base64url, 87 characters); no sign-in needed. */
  vapidPublicKey(options?: { signal?: AbortSignal }): Promise<string>;
  /** The user's devices, newest first. */
  listDevices(options?: { signal?: AbortSignal }): Promise<PushDevice[]>;
  /** 404 `device_not_found` for a device of another user. */
  unregisterDevice(id: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** The user's active devices (or `devices`); 403 `topic_forbidden` when the topic rules refuse. */
  subscribe(topic: string, options?: { devices?: string[]; signal?: AbortSignal }): Promise<TopicSubscription>;
  unsubscribe(topic: string, options?: { devices?: string[]; signal?: AbortSignal }): Promise<TopicSubscription>;
  /** The user opened message `messageId` (on `device`, or wherever it reached them). 404 `message_not_found`. */
  reportOpened(messageId: string, options?: { device?: string; signal?: AbortSignal }): Promise<{ opened: number }>;
  /** Superusers and `push:send` keys: resolves (202) to the message. */
  send(message: PushMessageInput, options?: WriteOptions): Promise<PushMessage>;
  /** `send()` with `sendAt` required. */
  schedule(
    message: PushMessageInput & { sendAt: SendAt },
    options?: WriteOptions,
  ): Promise<PushMessage>;
  /** The message, `counts` per device state and a page of per-device `results`. */
  status(id: string, options?: ResultsOptions): Promise<PushMessageStatus>;
  /** Newest first. */
  listMessages(options?: MessageListOptions): Promise<PushMessagePage>;
  /** A message not sent yet; 409 `already_sent` once sending began. */
  cancel(id: string, options?: { signal?: AbortSignal }): Promise<PushMessage & { counts: PushCounts }>;
}

export class Collections {
  list(): Promise<CollectionDefinition[]>;
  get(name: string): Promise<CollectionDefinition>;
  create(definition: CollectionInput, options?: WriteOptions): Promise<CollectionDefinition>;
  update(
    name: string,
    changes: Partial<CollectionInput>,
    options?: WriteOptions,
  ): Promise<CollectionDefinition>;
  delete(name: string, options?: WriteOptions): Promise<void>;
}

export class Schema {
  export(): Promise<SchemaDocument & { version: number; collections: CollectionDefinition[] }>;
  /** With `dryRun: true`, returns the diff without applying it. */
  import(
    document: SchemaDocument,
    options?: { dryRun?: boolean } & WriteOptions,
  ): Promise<SchemaImportResult>;
}

export class Auth {
  readonly accessToken: string | null;
  readonly refreshToken: string | null;
  /** The step a sign-in flow waits for (`verify_email`, `mfa_authenticate`, ...), or null. */
  readonly pending: string | null;
  /** allauth's session token of the flow in progress (sent as `X-Session-Token`). */
  readonly sessionToken: string | null;
  /** Resolves once tokens persisted in `storage` have been loaded. */
  ready(): Promise<void>;

  // Sign-in screens: each resolves signed in (tokens stored) or with the step pending.
  /** Create an account; with mandatory verification, pending `verify_email`. */
  signup(email: string, password: string): Promise<AuthResult>;
  /** Email and password; may be pending `mfa_authenticate` or `verify_email`. 400 on wrong credentials. */
  login(email: string, password: string): Promise<AuthResult>;
  /** The mailed code of a sign-up (or, signed in, of `changeEmail()`). 400 param `key` if wrong. */
  verifyEmail(code: string): Promise<AuthResult>;
  /** Mail the code again: for the pending sign-up, or (signed in) for `email` added by `changeEmail()`. */
  resendVerification(email?: string): Promise<void>;
  /** A TOTP or recovery code after `login()` resolved pending `mfa_authenticate`. */
  mfaAuthenticate(code: string): Promise<AuthResult>;
  /** Mail a one-time sign-in code (pending `login_by_code`). */
  requestLoginCode(email: string): Promise<AuthResult>;
  /** The code from `requestLoginCode()`. */
  confirmLoginCode(code: string): Promise<AuthResult>;
  /** Mail a password reset code (pending `password_reset_by_code`). */
  requestPasswordReset(email: string): Promise<AuthResult>;
  /** Optional: check the reset code first; resolves to its user. */
  checkPasswordResetCode(code: string): Promise<User>;
  /** Set the new password; every device is signed out, the result is not signed in. */
  resetPassword(code: string, password: string): Promise<AuthResult>;
  /** Native social sign-in with a provider SDK's ID token. */
  signInWithIdToken(provider: string, idToken: string, clientId: string): Promise<AuthResult>;
  /** Sign in as a new guest account. */
  guest(): Promise<AuthResult>;
  /** Give the signed-in guest an email and password (may be pending `verify_email`). */
  upgradeGuest(email: string, password: string): Promise<AuthResult>;
  /** Confirm the password after a 401 `reauthentication_required`. */
  reauthenticate(password: string): Promise<AuthResult>;

  // Signed-in account screens.
  /** Other devices are signed out; this one gets (and stores) a new token pair. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** Mails a code to the new address; `verifyEmail(code)` makes it the account's address. */
  changeEmail(email: string): Promise<EmailAddress[]>;
  listEmails(): Promise<EmailAddress[]>;
  sessions(): Promise<DeviceSession[]>;
  /** Sign these device sessions out; resolves to the remaining ones. */
  endSessions(ids: Array<string | number>): Promise<DeviceSession[]>;
  /** End this device session on the server and forget the tokens (always). */
  logout(): Promise<void>;
  /** May fail with 401 `reauthentication_required`: `reauthenticate(password)`, then again. */
  deleteAccount(): Promise<void>;
  exportAccount(): Promise<Record<string, unknown>>;

  /** Exchange the refresh token for a new (rotated) pair; concurrent calls share one. */
  refresh(): Promise<Tokens>;
  setTokens(tokens: Tokens): Promise<void>;
  /** Forget the tokens locally (and in storage), and any flow in progress. */
  clear(): Promise<void>;
}

// --- realtime -----------------------------------------------------------------------------

/**
 * `idle`: no connection (nothing subscribed, after `close()`, or stopped by an auth error
 * until the tokens change); `connecting`; `open`; `reconnecting`: the connection was lost,
 * trying again with backoff.
 */
export type RealtimeState = 'idle' | 'connecting' | 'open' | 'reconnecting';

/** One change of a record, in change-log order. */
export interface RealtimeEvent<T extends object = Record<string, unknown>> {
  action: 'create' | 'update' | 'delete';
  /** The record as it is now, with the fields you may read; `{id}` for a delete. */
  record: BaasRecord<T>;
  /** Where this change is in the change log (a `since` to resume from). */
  token: string;
}

/** A message another client published on a channel. */
export interface ChannelMessage<D = any> {
  /** `channel:<name>` */
  topic: string;
  data: D;
  /** The publisher's user id; null when anonymous (or an API key). */
  from: string | null;
}

/** A presence change; `sync` (user null) comes with the whole list on each (re)subscription. */
export interface PresenceChange {
  action: 'join' | 'leave' | 'sync';
  user: string | null;
  /** The user ids present after the change. */
  members: string[];
}

export interface SubscribeOptions {
  /** Only records matching this expression (the language of list filters). */
  filter?: string;
  /** A change token: the changes after it come first, then live ones. */
  since?: string | null;
  /**
   * The subscription was refused (it is over), or 410 `resync_required`: `since` is too
   * old, the subscription goes on from now; reload the collection.
   */
  onError?: (error: BaasError) => void;
}

export interface CollectionSubscribeOptions extends SubscribeOptions {
  /** Follow this one record only (topic `posts/<id>`). */
  recordId?: string;
}

/** A subscription: `unsubscribe()` ends it. */
export class Subscription {
  /** `posts`, `posts/<id>` or `channel:<name>`. */
  readonly topic: string;
  /** The change token of the last event (or acknowledgement); null before it and for channels. */
  readonly token: string | null;
  /** Resolves once the server acknowledged it; rejects with the refusal (a `BaasError`). */
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

/** `client.realtime.channel(name)`: messages between clients, presence. */
export class Channel<D = any> {
  readonly name: string;
  /** `channel:<name>` */
  readonly topic: string;
  /** The user ids present (presence channels), kept up to date while subscribed. */
  readonly members: string[];
  /** Receive messages; the channel is subscribed while it has a listener. */
  subscribe(
    onMessage?: ((message: ChannelMessage<D>) => void) | null,
    options?: { onError?: (error: BaasError) => void },
  ): Subscription;
  /** Resolves when the server accepted it; rejects with a `BaasError`. */
  publish(data: D): Promise<void>;
  /** Joins, leaves, and `sync` with the whole list; subscribes the channel too. Returns a stop function. */
  onPresence(callback: (change: PresenceChange) => void): () => void;
}

/** `client.realtime`: one WebSocket, opened on the first subscription or publish. */
export class Realtime {
  /** `wss://host/api/v1/realtime` */
  readonly url: string;
  readonly state: RealtimeState;
  /** A channel: the same as `channel(name).subscribe(onMessage, { onError })`. */
  subscribe<D = any>(
    topic: `channel:${string}`,
    onMessage: (message: ChannelMessage<D>) => void,
    options?: { onError?: (error: BaasError) => void },
  ): Subscription;
  /** A collection (`posts`) or one record (`posts/<id>`). */
  subscribe<T extends object = Record<string, unknown>>(
    topic: string,
    callback: (event: RealtimeEvent<T>) => void,
    options?: SubscribeOptions,
  ): Subscription;
  /** The same object for the same name. */
  channel<D = any>(name: string): Channel<D>;
  /** Close the connection and end every subscription; subscribing again reconnects. */
  close(): void;
  /** Returns a stop function. */
  onStateChange(callback: (state: RealtimeState) => void): () => void;
  /**
   * Connection errors: 410 `session_ended` (tokens cleared), 401 `invalid_token` (could
   * not refresh), 413 `too_large`, and subscription errors without an `onError`.
   */
  onError(callback: (error: BaasError) => void): () => void;
}

export class BaasClient {
  constructor(options: ClientOptions);
  /** The API root, e.g. `https://api.example.com/api/v1`. */
  readonly baseUrl: string;
  readonly apiKey: string | null;
  readonly auth: Auth;
  readonly collections: Collections;
  readonly schema: Schema;
  readonly files: Files;
  /** Push notifications: devices and topics (app users), sending (`push:send` keys). */
  readonly push: Push;
  /** Realtime: record events and channels over one WebSocket (made on first use). */
  readonly realtime: Realtime;
  collection<T extends object = Record<string, unknown>>(name: string): RecordCollection<T>;
  /** A raw call below `/api/v1`; resolves to the decoded JSON (undefined for 204). */
  request<R = any>(method: string, path: string, options?: RequestOptions): Promise<R>;
  /** Like `request()`, resolving to `{status, body, headers}`; a 304 resolves too. */
  send<R = any>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<R>>;
  /** Call a route of the server's hooks modules (`@route`), below `/api/v1/fn`. */
  fn<R = any>(
    method: string,
    path: string,
    options?: Pick<RequestOptions, 'body' | 'query' | 'idempotencyKey' | 'signal'>,
  ): Promise<R>;
  /**
   * Record operations in one transaction, all or nothing (at most 100). On failure nothing
   * is written and the `BaasError` has that operation's status and errors, each `param`
   * prefixed `requests.<index>.`.
   */
  batch(
    operations: BatchOperation[],
    options?: { idempotencyKey?: string; signal?: AbortSignal },
  ): Promise<BatchResponse[]>;
}

export function createClient(options: ClientOptions): BaasClient;

/** A fresh random Idempotency-Key (UUID v4) for one logical operation and its retries. */
export function newIdempotencyKey(): string;
