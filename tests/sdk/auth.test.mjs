// Accounts through the PocketBase JS SDK (0.28.x) against a real stagehand
// server: sign-up, authWithPassword and the authStore (isValid,
// isSuperuser, record), authRefresh, stagehand's auth-logout through
// pb.send, records created under owner rules (author = @request.auth.id),
// requestPasswordReset, and the collections API through pb.collections as a
// superuser made with `stagehand superuser upsert`.
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
    fields: [{ name: 'name', type: 'text' }],
    listRule: 'id = @request.auth.id',
    viewRule: 'id = @request.auth.id',
    createRule: '',
    updateRule: 'id = @request.auth.id',
    deleteRule: null,
  },
  {
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'author', type: 'relation', collectionId: 'users', maxSelect: 1 },
    ],
    listRule: '',
    viewRule: '',
    createRule: '@request.auth.id != "" && author = @request.auth.id',
    updateRule: 'author = @request.auth.id',
    deleteRule: 'author = @request.auth.id',
  },
];

let server;

function client() {
  const pb = new PocketBase(server.url);
  pb.autoCancellation(false);
  return pb;
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

describe('accounts through the SDK', () => {
  test('sign-up, authWithPassword, authStore, authRefresh, logout', async () => {
    const pb = client();
    const user = await pb.collection('users').create({
      email: 'ann@example.com',
      password: 'anns password',
      passwordConfirm: 'anns password',
      name: 'Ann',
    });
    assert.equal(user.email, undefined, 'a guest does not see the email');
    assert.equal(user.password, undefined);

    const auth = await pb.collection('users').authWithPassword('ANN@example.com', 'anns password');
    assert.equal(auth.record.id, user.id);
    assert.equal(auth.record.email, 'ann@example.com');
    assert.equal(auth.record.tokenKey, undefined);
    assert.ok(pb.authStore.isValid);
    assert.equal(pb.authStore.isSuperuser, false);
    assert.equal(pb.authStore.record.id, user.id);

    // the SDK sends the token: the owner-only list shows the record
    const mine = await pb.collection('users').getFullList();
    assert.equal(mine.length, 1);
    assert.equal(mine[0].email, 'ann@example.com');

    const first = pb.authStore.token;
    const refreshed = await pb.collection('users').authRefresh();
    assert.ok(refreshed.token);
    assert.equal(refreshed.record.id, user.id);
    assert.equal(pb.authStore.token, refreshed.token);

    await pb.send('/api/collections/users/auth-logout', { method: 'POST' });
    await rejects(pb.collection('users').authRefresh(), 401);
    pb.authStore.save(first, auth.record);
    await rejects(pb.collection('users').authRefresh(), 401);
    pb.authStore.clear();
    assert.equal(pb.authStore.isValid, false);

    const err = await rejects(
      pb.collection('users').authWithPassword('ann@example.com', 'wrong password'),
      400,
    );
    assert.equal(err.response.message, 'Failed to authenticate.');
  });

  test('records under owner rules', async () => {
    const pb = client();
    await pb.collection('users').create({
      email: 'bob@example.com',
      password: 'bobs password',
      passwordConfirm: 'bobs password',
    });
    await rejects(pb.collection('posts').create({ title: 'guest' }), 400);
    const { record: bob } = await pb
      .collection('users')
      .authWithPassword('bob@example.com', 'bobs password');
    const post = await pb.collection('posts').create({ title: 'mine', author: bob.id });
    assert.equal(post.author, bob.id);
    const expanded = await pb.collection('posts').getOne(post.id, { expand: 'author' });
    assert.equal(expanded.expand.author.id, bob.id);

    const ann = client();
    const { record: annRecord } = await ann
      .collection('users')
      .authWithPassword('ann@example.com', 'anns password');
    await rejects(ann.collection('posts').create({ title: 'forged', author: bob.id }), 400);
    await rejects(ann.collection('posts').update(post.id, { title: 'taken' }), 404);
    await rejects(ann.collection('posts').delete(post.id), 404);
    const own = await ann.collection('posts').create({ title: 'anns', author: annRecord.id });
    assert.equal((await pb.collection('posts').update(post.id, { title: 'edited' })).title, 'edited');
    assert.equal(await pb.collection('posts').delete(post.id), true);
    assert.equal(await ann.collection('posts').delete(own.id), true);
  });

  test('requestPasswordReset', async () => {
    const pb = client();
    assert.equal(await pb.collection('users').requestPasswordReset('ann@example.com'), true);
    assert.equal(await pb.collection('users').requestPasswordReset('nobody@example.com'), true);
  });

  test('a superuser and the collections API', async () => {
    const pb = client();
    const auth = await pb
      .collection('_superusers')
      .authWithPassword('root@example.com', 'root password');
    assert.equal(auth.record.collectionName, '_superusers');
    assert.ok(pb.authStore.isValid);
    assert.ok(pb.authStore.isSuperuser);

    // superusers bypass the rules
    const users = await pb.collection('users').getFullList();
    assert.equal(users.length, 2);
    assert.ok(users.every((u) => u.email));

    const all = await pb.collections.getFullList();
    const names = all.map((c) => c.name);
    assert.ok(names.includes('_superusers') && names.includes('users') && names.includes('posts'));
    assert.equal(all.find((c) => c.name === 'users').authToken?.secret, undefined);

    const created = await pb.collections.create({
      name: 'notes',
      type: 'base',
      fields: [{ name: 'text', type: 'text' }],
      listRule: '',
      viewRule: '',
      createRule: '',
    });
    assert.equal(created.name, 'notes');
    assert.equal((await pb.collections.getOne('notes')).id, created.id);
    const updated = await pb.collections.update(created.id, { listRule: null });
    assert.equal(updated.listRule, null);
    const note = await client().collection('notes').create({ text: 'hi' });
    await rejects(client().collection('notes').getList(), 403);
    assert.equal((await pb.collection('notes').getOne(note.id)).text, 'hi');
    await rejects(pb.collections.create({ name: 'notes' }), 400);
    assert.equal(await pb.collections.delete('notes'), true);
    await rejects(pb.collections.getOne('notes'), 404);

    // not for other users
    const ann = client();
    await ann.collection('users').authWithPassword('ann@example.com', 'anns password');
    await rejects(ann.collections.getFullList(), 403);
    await rejects(client().collections.getFullList(), 401);
  });
});
