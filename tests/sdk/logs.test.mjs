// The stored logs through the PocketBase JS SDK's LogService against a real
// stagehand server: pb.logs.getList (paging, filter, sort), pb.logs.getOne
// and pb.logs.getStats as a superuser, and the 401/403 a guest and a
// signed-in user get.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import PocketBase from 'pocketbase';

import { bin, startServer } from './server.mjs';
import { rejects } from './expect.mjs';

const schema = [
  {
    name: 'users',
    type: 'auth',
    fields: [],
    listRule: '',
    viewRule: '',
    createRule: '',
    updateRule: null,
    deleteRule: null,
  },
];

let server;

function client() {
  const pb = new PocketBase(server.url);
  pb.autoCancellation(false);
  return pb;
}

async function waitFor(fn, what) {
  const end = Date.now() + 10000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  server = await startServer(schema, ['--sync', 'normal']);
  const r = spawnSync(
    bin,
    ['superuser', 'upsert', 'root@example.com', 'root password', '--dir', server.dataDir],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
});

after(async () => {
  const code = await server.stop();
  if (code !== 0) {
    console.error(server.readLog());
  }
  server.cleanup();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

describe('stored logs through the SDK', () => {
  test('pb.logs.getList, getOne, getStats', async () => {
    const guest = client();
    for (let i = 0; i < 3; i++) {
      await guest.send('/api/health', { query: { sdk: String(i) }, headers: { 'X-Request-Id': `sdk-${i}` } });
    }
    await rejects(guest.send('/api/sdk-missing', {}), 404);

    const pb = client();
    await pb.collection('_superusers').authWithPassword('root@example.com', 'root password');
    // by url: behind nginx (scripts/test's sdk-nginx run) the request id is nginx's own
    const filter = pb.filter('data.url ~ {:p}', { p: '/api/health?sdk=' });
    const list = await waitFor(async () => {
      const l = await pb.logs.getList(1, 2, { filter, sort: 'created' });
      return l.totalItems === 3 ? l : null;
    }, 'the three requests stored');
    assert.equal(list.page, 1);
    assert.equal(list.perPage, 2);
    assert.equal(list.totalPages, 2);
    assert.deepEqual(
      list.items.map((e) => e.data.url),
      ['/api/health?sdk=0', '/api/health?sdk=1'],
    );
    if (!process.env.STAGEHAND_NGINX) {
      assert.deepEqual(
        list.items.map((e) => e.data.requestId),
        ['sdk-0', 'sdk-1'],
      );
    }
    const first = list.items[0];
    assert.equal(first.level, 0);
    assert.equal(first.message, 'GET /api/health?sdk=0');
    assert.equal(first.data.status, 200);
    assert.equal(first.data.method, 'GET');
    assert.match(first.created, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/);

    const one = await pb.logs.getOne(first.id);
    assert.deepEqual(one, first);
    await rejects(pb.logs.getOne('nosuchlog000000'), 404);

    const errors = await waitFor(async () => {
      const l = await pb.logs.getList(1, 10, { filter: 'data.status = 404 && data.url ~ "sdk-missing"' });
      return l.totalItems === 1 ? l : null;
    }, 'the 404 stored');
    assert.equal(errors.items[0].level, 4);

    const stats = await pb.logs.getStats({ filter });
    assert.ok(Array.isArray(stats) && stats.length >= 1);
    assert.equal(
      stats.reduce((n, s) => n + s.total, 0),
      3,
    );
    assert.match(stats[0].date, /^\d{4}-\d\d-\d\d \d\d:00:00\.000Z$/);
    await rejects(pb.logs.getList(1, 10, { filter: 'nosuch = 1' }), 400);
  });

  test('guests get 401 and other records 403', async () => {
    const guest = client();
    await rejects(guest.logs.getList(1, 10), 401);
    await rejects(guest.logs.getStats(), 401);
    const user = client();
    await user.collection('users').create({
      email: 'u@example.com',
      password: 'user password',
      passwordConfirm: 'user password',
    });
    await user.collection('users').authWithPassword('u@example.com', 'user password');
    await rejects(user.logs.getList(1, 10), 403);
    await rejects(user.logs.getOne('x'), 403);
    await rejects(user.logs.getStats(), 403);
  });
});
