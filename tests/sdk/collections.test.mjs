// The collections API of issue 9 through the PocketBase JS SDK (0.28.x) as a
// superuser: pb.collections.import (with deleteMissing), getScaffolds,
// truncate, auth options as the SDK reads them, and an unsupported option
// refused with a ClientResponseError naming it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import PocketBase from 'pocketbase';

import { bin, startServer } from './server.mjs';
import { rejects } from './expect.mjs';

let server;
let pb;

const blog = [
  {
    id: 'pbc_authors00001',
    name: 'authors',
    type: 'auth',
    fields: [
      { name: 'username', type: 'text', required: true, min: 3, max: 40 },
      { name: 'name', type: 'text' },
    ],
    indexes: ['CREATE UNIQUE INDEX `idx_username` ON `authors` (`username`)'],
    passwordAuth: { enabled: true, identityFields: ['email', 'username'] },
    listRule: '',
    viewRule: '',
    createRule: '',
    updateRule: 'id = @request.auth.id',
    deleteRule: null,
  },
  {
    id: 'pbc_posts0000001',
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'author', type: 'relation', collectionId: 'pbc_authors00001', maxSelect: 1 },
    ],
    listRule: '',
    viewRule: '',
    createRule: '@request.auth.id != ""',
    updateRule: null,
    deleteRule: null,
  },
  { name: 'scratch', type: 'base', fields: [{ name: 'x', type: 'text' }] },
];

before(async () => {
  server = await startServer([{ name: 'placeholder', type: 'base' }], ['--rate-limit-auth', 'off']);
  const r = spawnSync(
    bin,
    ['superuser', 'upsert', 'root@example.com', 'root password', '--dir', server.dataDir],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  pb = new PocketBase(server.url);
  pb.autoCancellation(false);
  await pb.collection('_superusers').authWithPassword('root@example.com', 'root password');
});

after(async () => {
  const code = await server.stop();
  if (code !== 0) {
    console.error(server.readLog());
  }
  server.cleanup();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

describe('the collections API through the SDK', () => {
  test('pb.collections.import, with deleteMissing', async () => {
    assert.equal(await pb.collections.import(blog, false), true);
    const names = (await pb.collections.getFullList()).map((c) => c.name);
    for (const n of ['authors', 'posts', 'scratch', 'placeholder', '_superusers']) {
      assert.ok(names.includes(n), `${n} in ${names}`);
    }
    const authors = await pb.collections.getOne('authors');
    assert.deepEqual(authors.passwordAuth, { enabled: true, identityFields: ['email', 'username'] });
    assert.equal(authors.authToken.duration, 604800);
    assert.equal(authors.authToken.secret, undefined);
    assert.equal(authors.otp.enabled, false);

    // sign in by username, as PocketBase's identityFields allow
    const guest = new PocketBase(server.url);
    guest.autoCancellation(false);
    await guest.collection('authors').create({
      email: 'ann@example.com',
      username: 'ann',
      password: 'anns password',
      passwordConfirm: 'anns password',
    });
    const auth = await guest.collection('authors').authWithPassword('ann', 'anns password');
    assert.equal(auth.record.username, 'ann');

    // placeholder is not listed: it goes; the others keep their records
    assert.equal(await pb.collections.import(blog, true), true);
    const after = (await pb.collections.getFullList()).map((c) => c.name);
    assert.ok(!after.includes('placeholder'), `${after}`);
    assert.ok(after.includes('_superusers'));
    assert.equal((await pb.collection('authors').getList(1, 10)).totalItems, 1);

    // an option stagehand does not support is named, and nothing changes
    const bad = [{ name: 'bad', type: 'base', fields: [{ name: 'f', type: 'text', foo: 1 }] }];
    const err = await rejects(pb.collections.import(bad, false), 400);
    assert.match(JSON.stringify(err.response), /foo/);
    await rejects(pb.collections.getOne('bad'), 404);
    // and enabling MFA is refused until it is implemented
    await rejects(pb.collections.update('authors', { mfa: { enabled: true } }), 400);
  });

  test('getScaffolds', async () => {
    const s = await pb.collections.getScaffolds();
    assert.equal(s.base.type, 'base');
    assert.equal(s.auth.type, 'auth');
    assert.equal(s.base.name, '');
    assert.deepEqual(
      s.auth.fields.map((f) => f.name),
      ['id', 'password', 'tokenKey', 'email', 'emailVisibility', 'verified', 'created', 'updated'],
    );
    const guest = new PocketBase(server.url);
    await rejects(guest.collections.getScaffolds(), 401);
  });

  test('a view collection: create, list with filter and sort, read-only', async () => {
    const view = await pb.collections.create({
      name: 'post_titles',
      type: 'view',
      listRule: '',
      viewRule: '',
      viewQuery: 'SELECT p.id, p.title, p.author, length(p.title) AS size FROM posts p',
    });
    assert.equal(view.type, 'view');
    assert.deepEqual(
      view.fields.map((f) => [f.name, f.type]),
      [
        ['id', 'text'],
        ['title', 'text'],
        ['author', 'relation'],
        ['size', 'number'], // length(): a number, so `size > 5` compares numbers
      ],
    );
    const guest = new PocketBase(server.url);
    guest.autoCancellation(false);
    const ann = await pb.collection('authors').getFirstListItem('username = "ann"');
    await pb.collection('posts').create({ title: 'short', author: ann.id });
    await pb.collection('posts').create({ title: 'a longer title', author: ann.id });
    const list = await guest.collection('post_titles').getList(1, 10, {
      filter: 'size > 5',
      sort: '-size',
      expand: 'author',
    });
    assert.equal(list.totalItems, 1);
    assert.equal(list.items[0].title, 'a longer title');
    assert.equal(list.items[0].size, 14);
    assert.equal(list.items[0].expand.author.username, 'ann');
    const all = await guest.collection('post_titles').getFullList({ sort: 'title' });
    assert.deepEqual(
      all.map((r) => r.title),
      ['a longer title', 'short'],
    );
    await rejects(pb.collection('post_titles').create({ title: 'x' }), 400);
    await rejects(
      pb.collections.create({ name: 'bad_view', type: 'view', viewQuery: 'DELETE FROM posts' }),
      400,
    );
  });

  test('truncate', async () => {
    for (let i = 0; i < 3; i++) {
      await pb.collection('scratch').create({ x: `row ${i}` });
    }
    assert.equal((await pb.collection('scratch').getList(1, 10)).totalItems, 3);
    assert.equal(await pb.collections.truncate('scratch'), true);
    assert.equal((await pb.collection('scratch').getList(1, 10)).totalItems, 0);
    // the collection stays
    await pb.collection('scratch').create({ x: 'again' });
    await rejects(pb.collections.truncate('missing'), 404);
  });
});
