// Issue 9's filter language through the PocketBase JS SDK (0.28.x): a
// back-relation expand (`comments_via_post`, nested, under the comments'
// viewRule), a back-relation filter, `@collection` in a filter for a
// superuser and the 403 a guest gets, and `:each` on a multiple select.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import PocketBase, { ClientResponseError } from 'pocketbase';

import { bin, startServer } from './server.mjs';

const schema = [
  {
    name: 'authors',
    type: 'base',
    fields: [{ name: 'name', type: 'text' }],
    listRule: '',
    viewRule: '',
  },
  {
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'tags', type: 'select', values: ['news', 'tech', 'life'], maxSelect: 3 },
    ],
    listRule: '',
    viewRule: '',
  },
  {
    name: 'comments',
    type: 'base',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'post', type: 'relation', collectionId: 'posts', maxSelect: 1 },
      { name: 'author', type: 'relation', collectionId: 'authors', maxSelect: 1 },
      { name: 'hidden', type: 'bool' },
    ],
    indexes: ['CREATE INDEX idx_comments_post ON comments (post)'],
    listRule: 'hidden = false',
    viewRule: 'hidden = false',
  },
];

let server;
const ids = {};

function client() {
  const pb = new PocketBase(server.url);
  pb.autoCancellation(false);
  return pb;
}

async function superuser() {
  const pb = client();
  await pb.collection('_superusers').authWithPassword('root@example.com', 'root password');
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
  const pb = await superuser();
  const ann = await pb.collection('authors').create({ name: 'Ann' });
  const a = await pb.collection('posts').create({ title: 'A', tags: ['news', 'tech'] });
  const b = await pb.collection('posts').create({ title: 'B', tags: ['tech'] });
  await pb.collection('posts').create({ title: 'C', tags: [] });
  ids.a = a.id;
  ids.b = b.id;
  await pb.collection('comments').create({ text: 'great', post: a.id, author: ann.id });
  await pb.collection('comments').create({ text: 'fine', post: a.id, author: ann.id });
  await pb.collection('comments').create({ text: 'secret', post: b.id, hidden: true });
});

after(async () => {
  const code = await server.stop();
  if (code !== 0) {
    console.error(server.readLog());
  }
  server.cleanup();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

describe('the filter language through the SDK', () => {
  test('back-relation expand, nested, under the viewRule', async () => {
    const pb = client();
    const list = await pb.collection('posts').getFullList({
      sort: 'title',
      expand: 'comments_via_post.author',
    });
    assert.deepEqual(
      list.map((p) => p.title),
      ['A', 'B', 'C'],
    );
    const [a, b, c] = list;
    const texts = a.expand.comments_via_post.map((x) => x.text).sort();
    assert.deepEqual(texts, ['fine', 'great']);
    assert.ok(a.expand.comments_via_post.every((x) => x.expand.author.name === 'Ann'));
    assert.equal(b.expand, undefined, 'the hidden comment is not expanded');
    assert.equal(c.expand, undefined);
    const su = await superuser();
    const one = await su.collection('posts').getOne(ids.b, { expand: 'comments_via_post' });
    assert.equal(one.expand.comments_via_post[0].text, 'secret');
  });

  test('back-relation filter', async () => {
    const pb = client();
    const hits = await pb.collection('posts').getFullList({
      filter: pb.filter('comments_via_post.text ?~ {:q}', { q: 'grea' }),
    });
    assert.deepEqual(
      hits.map((p) => p.title),
      ['A'],
    );
    const none = await pb.collection('posts').getList(1, 10, {
      filter: 'comments_via_post.text ?= "secret"',
    });
    assert.equal(none.totalItems, 0, 'a guest cannot find posts by a hidden comment');
  });

  test('@collection: superusers filter by it, guests get 403', async () => {
    const su = await superuser();
    const hits = await su.collection('posts').getFullList({
      filter: '@collection.comments.post ?= id',
      sort: 'title',
    });
    assert.deepEqual(
      hits.map((p) => p.title),
      ['A', 'B'],
    );
    try {
      await client().collection('posts').getList(1, 10, { filter: '@collection.comments.post ?= id' });
      assert.fail('expected a 403');
    } catch (err) {
      assert.ok(err instanceof ClientResponseError, `a ClientResponseError, got ${err}`);
      assert.equal(err.status, 403);
      assert.equal(err.response.message, 'Only superusers can filter by @collection.');
    }
  });

  test(':each on a multiple select', async () => {
    const pb = client();
    const all = await pb.collection('posts').getFullList({ filter: 'tags:each ~ "e"', sort: 'title' });
    assert.deepEqual(
      all.map((p) => p.title),
      ['A', 'B'],
    );
    const any = await pb.collection('posts').getFullList({ filter: 'tags:each ?= "news"' });
    assert.deepEqual(
      any.map((p) => p.title),
      ['A'],
    );
  });
});
