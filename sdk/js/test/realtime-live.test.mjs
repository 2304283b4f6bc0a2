// client.realtime against `baas serve` (tests/sdk/test_js_sdk_realtime.py starts it and sets
// it up): BAAS_URL; BAAS_ALICE_EMAIL, BAAS_BOB_EMAIL and their _PASSWORD (app users);
// BAAS_CONTROL_URL, where POST /restart {titles} stops the server, writes those records
// to rt_posts while it is down, and starts a new one on the same port and data directory.
// Collections: rt_posts (everyone reads and writes), rt_notes (each user sees their own:
// owner = @request.auth.id); channels room-* (everyone, with presence).
// Needs a global WebSocket (Node 22, or Node 20 with --experimental-websocket).
// Skipped without BAAS_URL.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import { BaasError, createClient, newIdempotencyKey } from '../index.js';

const {
  BAAS_URL, BAAS_CONTROL_URL,
  BAAS_ALICE_EMAIL, BAAS_ALICE_PASSWORD, BAAS_BOB_EMAIL, BAAS_BOB_PASSWORD,
} = process.env;
const POSTS = 'rt_posts';
const NOTES = 'rt_notes';
const TIMEOUT = { timeout: 30_000 };

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** Wait until `check()` is truthy (polling), or fail after `ms`. */
async function until(check, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The runtime's WebSocket, recording the frames each way and the close codes. */
function spyWebSocket() {
  const log = { sockets: 0, sent: /** @type {any[]} */ ([]), received: /** @type {any[]} */ ([]), closes: /** @type {number[]} */ ([]) };
  class Spy extends globalThis.WebSocket {
    /** @param {string} url */
    constructor(url) {
      super(url);
      log.sockets += 1;
      this.addEventListener('message', (e) => log.received.push(JSON.parse(String(e.data))));
      this.addEventListener('close', (e) => log.closes.push(e.code));
    }

    /** @param {string} data */
    send(data) {
      log.sent.push(JSON.parse(data));
      super.send(data);
    }
  }
  const frames = (/** @type {any[]} */ list, /** @type {string} */ type) => list.filter((f) => f.type === type);
  return { WebSocket: Spy, log, frames };
}

describe('client.realtime against baas serve', { skip: !BAAS_URL && 'BAAS_URL is not set' }, () => {
  /** @type {import('../index.js').BaasClient[]} */
  const clients = [];
  /** @param {import('../index.js').ClientOptions | {}} [options] */
  const client = (options = {}) => {
    const made = createClient({ baseUrl: /** @type {string} */ (BAAS_URL), ...options });
    clients.push(made);
    return made;
  };
  /**
   * A client signed in as an app user, and the user's id.
   * @param {'alice' | 'bob'} who
   */
  async function signedIn(who, options = {}) {
    const made = client(options);
    const [email, password] = who === 'alice'
      ? [BAAS_ALICE_EMAIL, BAAS_ALICE_PASSWORD]
      : [BAAS_BOB_EMAIL, BAAS_BOB_PASSWORD];
    const result = await made.auth.login(/** @type {string} */ (email), /** @type {string} */ (password));
    assert.equal(result.signedIn, true);
    return { client: made, id: String(result.user.id) };
  }
  // Anonymous writes to the open collection, retried once (same key) if a connection to a
  // stopped server was reused.
  const writer = createClient({ baseUrl: /** @type {string} */ (BAAS_URL) });
  async function createPost(/** @type {string} */ title) {
    const key = newIdempotencyKey();
    try {
      return await writer.collection(POSTS).create({ title }, { idempotencyKey: key });
    } catch (error) {
      if (!(error instanceof BaasError && error.status === 0)) throw error;
      return writer.collection(POSTS).create({ title }, { idempotencyKey: key });
    }
  }

  // Each test's connections end with it (the restart test wants no others around).
  afterEach(() => {
    for (const made of clients.splice(0)) made.realtime.close();
  });

  test('a subscriber gets each create, update and delete, in order, as REST answered them', TIMEOUT, async () => {
    const reader = client();
    /** @type {any[]} */
    const seen = [];
    const sub = reader.collection(POSTS).subscribe((event) => seen.push(event));
    await sub.ready;
    assert.equal(reader.realtime.state, 'open');
    assert.ok(sub.token, 'the acknowledgement carries a token');
    const posts = writer.collection(POSTS);
    // One write at a time: changes to one record in quick succession may arrive as one event.
    const created = await posts.create({ title: 'first' });
    await until(() => seen.length === 1, 'the create');
    const updated = await posts.update(created.id, { title: 'second' });
    await until(() => seen.length === 2, 'the update');
    await posts.delete(created.id);
    await until(() => seen.length === 3, 'the delete');
    assert.deepEqual(seen.map((e) => e.action), ['create', 'update', 'delete']);
    assert.deepEqual(seen[0].record, created);
    assert.deepEqual(seen[1].record, updated);
    assert.deepEqual(seen[2].record, { id: created.id });
    assert.equal(sub.token, seen[2].token);
    sub.unsubscribe();
    await createPost('after unsubscribe');
    await sleep(200);
    assert.equal(seen.length, 3);
  });

  test('one record, and a filter: only the matching changes arrive', TIMEOUT, async () => {
    const reader = client();
    const watched = await createPost('watched');
    const other = await createPost('other');
    /** @type {any[]} */ const all = [];
    /** @type {any[]} */ const one = [];
    /** @type {any[]} */ const filtered = [];
    const subs = [
      reader.collection(POSTS).subscribe((e) => all.push(e)),
      reader.collection(POSTS).subscribe((e) => one.push(e), { recordId: watched.id }),
      reader.collection(POSTS).subscribe((e) => filtered.push(e), { filter: "title = 'keep'" }),
    ];
    await Promise.all(subs.map((s) => s.ready));
    await writer.collection(POSTS).update(other.id, { title: 'other, changed' });
    const kept = await createPost('keep');
    await writer.collection(POSTS).update(watched.id, { title: 'watched, changed' });
    await createPost('drop');
    const keptToo = await createPost('keep');
    await until(() => all.length === 5 && one.length === 1 && filtered.length === 2, 'the events');
    assert.deepEqual(one.map((e) => [e.action, e.record.title]), [['update', 'watched, changed']]);
    assert.deepEqual(filtered.map((e) => e.record.id), [kept.id, keptToo.id]);
  });

  test('each user gets only the records their rules let them see; anonymous gets none', TIMEOUT, async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const anonymous = client();
    /** @type {Record<string, {notes: string[], posts: string[]}>} */
    const seen = {};
    const subs = [];
    for (const [name, who] of /** @type {const} */ ([['alice', alice.client], ['bob', bob.client], ['anonymous', anonymous]])) {
      const mine = { notes: /** @type {string[]} */ ([]), posts: /** @type {string[]} */ ([]) };
      seen[name] = mine;
      subs.push(who.collection(NOTES).subscribe((e) => mine.notes.push(e.record.title)));
      subs.push(who.collection(POSTS).subscribe((e) => mine.posts.push(e.record.title)));
    }
    await Promise.all(subs.map((s) => s.ready));
    await alice.client.collection(NOTES).create({ title: "alice's", owner: alice.id });
    await bob.client.collection(NOTES).create({ title: "bob's", owner: bob.id });
    // Events come in change-log order: once the post is in, the notes before it are too.
    await createPost('sentinel 3');
    await until(() => Object.values(seen).every((s) => s.posts.includes('sentinel 3')), 'the sentinel');
    assert.deepEqual(seen.alice.notes, ["alice's"]);
    assert.deepEqual(seen.bob.notes, ["bob's"]);
    assert.deepEqual(seen.anonymous.notes, []);
  });

  test('a refreshed access token goes out in a new auth frame; events keep flowing', TIMEOUT, async () => {
    const { WebSocket, log, frames } = spyWebSocket();
    const alice = await signedIn('alice', { WebSocket });
    const writerAlice = await signedIn('alice');
    /** @type {string[]} */ const seen = [];
    const sub = alice.client.collection(NOTES).subscribe((e) => seen.push(e.record.title));
    await sub.ready;
    const first = alice.client.auth.accessToken;
    await alice.client.auth.refresh();
    const second = alice.client.auth.accessToken;
    assert.notEqual(second, first);
    await until(() => frames(log.received, 'authenticated').length === 2, 'the second authenticated');
    assert.deepEqual(frames(log.sent, 'auth').map((f) => f.token), [first, second]);
    const answers = frames(log.received, 'authenticated');
    assert.equal(String(answers[1].user), alice.id);
    assert.ok(answers[1].expires >= answers[0].expires);
    await writerAlice.client.collection(NOTES).create({ title: 'after refresh', owner: alice.id });
    await until(() => seen.includes('after refresh'), 'the event after the refresh');
    assert.equal(log.sockets, 1);
    assert.deepEqual(log.closes, []);
  });

  test('close 4001: a refused token is refreshed, the connection comes back, nothing is lost or repeated', TIMEOUT, async () => {
    const { WebSocket, log, frames } = spyWebSocket();
    const alice = await signedIn('alice', { WebSocket, realtime: { reconnectMax: 1000 } });
    const writerAlice = await signedIn('alice');
    const errors = [];
    alice.client.realtime.onError((e) => errors.push(e));
    /** @type {string[]} */ const seen = [];
    const sub = alice.client.collection(NOTES).subscribe((e) => seen.push(e.record.title));
    await sub.ready;
    const notes = writerAlice.client.collection(NOTES);
    await notes.create({ title: 'n1', owner: alice.id });
    await until(() => seen.length === 1, 'n1');
    await alice.client.auth.setTokens({
      accessToken: 'not-a-valid-token',
      refreshToken: alice.client.auth.refreshToken,
    });
    await notes.create({ title: 'n2', owner: alice.id });
    await until(() => log.closes.includes(4001), 'close 4001');
    await notes.create({ title: 'n3', owner: alice.id });
    await until(() => seen.includes('n3'), 'n3');
    await notes.create({ title: 'n4', owner: alice.id });
    await until(() => seen.includes('n4'), 'n4');
    assert.deepEqual(seen, ['n1', 'n2', 'n3', 'n4']);
    assert.equal(log.sockets, 2);
    assert.ok(alice.client.auth.accessToken && alice.client.auth.accessToken !== 'not-a-valid-token');
    const auths = frames(log.sent, 'auth').map((f) => f.token);
    assert.deepEqual(auths.slice(1), ['not-a-valid-token', alice.client.auth.accessToken]);
    assert.ok(frames(log.sent, 'subscribe').at(-1).since, 'resubscribed with since');
    assert.deepEqual(errors, []);
  });

  test('close 4003: a session ended elsewhere clears the tokens, is reported, and goes on anonymously', TIMEOUT, async () => {
    const { WebSocket, log } = spyWebSocket();
    const bob = await signedIn('bob', { WebSocket });
    /** @type {BaasError[]} */ const errors = [];
    bob.client.realtime.onError((e) => errors.push(e));
    /** @type {string[]} */ const posts = [];
    const sub = bob.client.collection(POSTS).subscribe((e) => posts.push(e.record.title));
    await sub.ready;
    const current = (await bob.client.auth.sessions()).find((s) => s.is_current);
    assert.ok(current);
    const elsewhere = await signedIn('bob');
    await elsewhere.client.auth.endSessions([current.id]);
    await until(() => errors.length > 0, 'the session_ended error');
    assert.equal(errors[0].status, 410);
    assert.equal(errors[0].code, 'session_ended');
    assert.ok(log.closes.includes(4003), `closes: ${log.closes}`);
    assert.equal(bob.client.auth.accessToken, null);
    await createPost('seen anonymously');
    await until(() => posts.includes('seen anonymously'), 'the post, anonymously');
    assert.equal(errors.length, 1);
  });

  test('channels: messages to the others, presence joins and leaves, refusals', TIMEOUT, async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const roomA = alice.client.realtime.channel('room-live');
    const roomB = bob.client.realtime.channel('room-live');
    /** @type {any[]} */ const presence = [];
    /** @type {any[]} */ const toAlice = [];
    /** @type {any[]} */ const toBob = [];
    roomA.onPresence((p) => presence.push(p));
    const subA = roomA.subscribe((m) => toAlice.push(m));
    await subA.ready;
    assert.deepEqual(roomA.members, [alice.id]);
    const subB = roomB.subscribe((m) => toBob.push(m));
    await subB.ready;
    assert.deepEqual([...roomB.members].sort(), [alice.id, bob.id].sort());
    await until(() => roomA.members.includes(bob.id), "bob's join");
    await roomB.publish({ text: 'hi' });
    await until(() => toAlice.length === 1, 'the message');
    assert.deepEqual(toAlice[0], { topic: 'channel:room-live', data: { text: 'hi' }, from: bob.id });
    // Anonymous, without subscribing: from null.
    await client().realtime.channel('room-live').publish(42);
    await until(() => toAlice.length === 2 && toBob.length === 1, 'the anonymous message');
    assert.deepEqual(toBob, [{ topic: 'channel:room-live', data: 42, from: null }]);
    assert.equal(toAlice[1].from, null);
    subB.unsubscribe();
    await until(() => !roomA.members.includes(bob.id), "bob's leave");
    assert.deepEqual(
      presence.map((p) => [p.action, p.user]),
      [['sync', null], ['join', bob.id], ['leave', bob.id]],
    );
    const refused = alice.client.realtime.channel('nowhere').subscribe(() => {}, { onError: () => {} });
    await assert.rejects(refused.ready, (e) => e instanceof BaasError && e.status === 404 && e.code === 'channel_not_found');
  });

  // Last: it replaces the server.
  test('the server restarts mid-stream: every record arrives once, in order, resumed with since', { timeout: 60_000 }, async () => {
    const { WebSocket, log, frames } = spyWebSocket();
    const reader = client({ WebSocket, realtime: { reconnectMax: 1000 } });
    /** @type {string[]} */ const states = [];
    reader.realtime.onStateChange((s) => states.push(s));
    /** @type {string[]} */ const seen = [];
    const sub = reader.collection(POSTS).subscribe((e) => {
      if (e.action === 'create' && String(e.record.title).startsWith('r ')) seen.push(e.record.title);
    });
    await sub.ready;
    await createPost('r 1');
    await createPost('r 2');
    await until(() => seen.length === 2, 'r 1, r 2');
    const answer = await fetch(`${BAAS_CONTROL_URL}/restart`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ titles: ['r 3', 'r 4'] }), // written while it is down
    });
    assert.equal(answer.status, 200, await answer.text());
    await createPost('r 5');
    await createPost('r 6');
    await until(() => seen.includes('r 6'), 'r 6', 20_000);
    await createPost('r 7');
    await until(() => seen.includes('r 7'), 'r 7');
    assert.deepEqual(seen, ['r 1', 'r 2', 'r 3', 'r 4', 'r 5', 'r 6', 'r 7']);
    assert.equal(log.closes[0], 1001, `closes: ${log.closes}`);
    assert.ok(log.sockets >= 2);
    const resumed = frames(log.sent, 'subscribe').at(-1);
    assert.ok(resumed.since, 'resubscribed with since');
    assert.ok(states.includes('reconnecting'), states.join());
    assert.equal(reader.realtime.state, 'open');
  });
});
