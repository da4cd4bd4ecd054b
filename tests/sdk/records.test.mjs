// The PocketBase JS SDK (0.28.x, pinned in package-lock.json) against a real
// stagehand server: the records calls an app makes — getList, getFullList
// over 5,000 records, getFirstListItem, getOne, create, update, delete, with
// filter, sort, expand, fields and skipTotal — and the ClientResponseError a
// failed call throws (status, data per field).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import PocketBase, { ClientResponseError } from 'pocketbase';

import { importSchema, startServer } from './server.mjs';
import { rejects } from './expect.mjs';

const open = { listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' };

const schema = [
  { name: 'authors', type: 'base', fields: [{ name: 'name', type: 'text', required: true }], ...open },
  {
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text', required: true, max: 100 },
      { name: 'n', type: 'number' },
      { name: 'published', type: 'bool' },
      { name: 'author', type: 'relation', collectionId: 'authors', maxSelect: 1 },
      { name: 'created', type: 'autodate', onCreate: true },
      { name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
    ],
    indexes: ['CREATE UNIQUE INDEX idx_posts_title ON posts (title)'],
    ...open,
  },
  { name: 'bulk', type: 'base', fields: [{ name: 'i', type: 'number' }], ...open },
  {
    name: 'locked',
    type: 'base',
    fields: [{ name: 'x', type: 'text' }],
    listRule: null,
    viewRule: null,
    createRule: null,
    updateRule: null,
    deleteRule: null,
  },
];

let server;
let pb;

before(async () => {
  server = await startServer(schema, ['--sync', 'normal']);
  pb = new PocketBase(server.url);
  pb.autoCancellation(false);
});

after(async () => {
  const code = await server.stop();
  if (code !== 0) {
    console.error(server.readLog());
  }
  server.cleanup();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

describe('records through the SDK', () => {
  let author;

  test('create, getOne, update, delete', async () => {
    author = await pb.collection('authors').create({ name: 'Ann' });
    assert.match(author.id, /^[a-z0-9]{15}$/);
    assert.equal(author.collectionName, 'authors');

    const post = await pb.collection('posts').create({ title: 'First', n: 1, author: author.id });
    assert.equal(post.title, 'First');
    assert.equal(post.published, false);
    assert.match(post.created, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/);

    const got = await pb.collection('posts').getOne(post.id, { expand: 'author' });
    assert.equal(got.expand.author.name, 'Ann');

    const upd = await pb.collection('posts').update(post.id, { published: true, 'n+': 4 });
    assert.equal(upd.published, true);
    assert.equal(upd.n, 5);

    assert.equal(await pb.collection('posts').delete(post.id), true);
    await rejects(pb.collection('posts').getOne(post.id), 404);
  });

  test('getList: paging, filter, sort, fields, skipTotal, expand', async () => {
    for (let i = 0; i < 12; i++) {
      await pb.collection('posts').create({ title: `p${String(i).padStart(2, '0')}`, n: i, author: author.id });
    }
    const page = await pb.collection('posts').getList(2, 5, { sort: '-n' });
    assert.equal(page.page, 2);
    assert.equal(page.perPage, 5);
    assert.equal(page.totalItems, 12);
    assert.equal(page.totalPages, 3);
    assert.deepEqual(page.items.map((p) => p.n), [6, 5, 4, 3, 2]);

    const filtered = await pb.collection('posts').getList(1, 50, {
      filter: pb.filter('n >= {:min} && title ~ {:t}', { min: 9, t: 'p1' }),
      sort: 'title',
      fields: 'id,title,expand.author.name',
      expand: 'author',
      skipTotal: true,
    });
    assert.equal(filtered.totalItems, -1);
    assert.equal(filtered.totalPages, -1);
    assert.deepEqual(filtered.items.map((p) => p.title), ['p10', 'p11']);
    assert.deepEqual(Object.keys(filtered.items[0]).sort(), ['expand', 'id', 'title']);
    assert.deepEqual(filtered.items[0].expand, { author: { name: 'Ann' } });

    const first = await pb.collection('posts').getFirstListItem('n = 7');
    assert.equal(first.title, 'p07');
    await rejects(pb.collection('posts').getFirstListItem('n = 700'), 404);
  });

  test('getFullList over 5,000 records', async () => {
    const total = 5000;
    for (let i = 0; i < total; i += 100) {
      const batch = [];
      for (let k = i; k < i + 100; k++) {
        batch.push(pb.collection('bulk').create({ i: k }));
      }
      await Promise.all(batch);
    }
    const all = await pb.collection('bulk').getFullList({ sort: 'i' });
    assert.equal(all.length, total);
    for (let k = 0; k < total; k++) {
      assert.equal(all[k].i, k);
    }
    const small = await pb.collection('bulk').getFullList({ batch: 333, filter: 'i < 1000' });
    assert.equal(small.length, 1000);
  });

  test('ClientResponseError: status and data', async () => {
    let err = await rejects(pb.collection('posts').create({ n: 1 }), 400);
    assert.equal(err.response.message, 'Failed to create record.');
    assert.equal(err.response.data.title.code, 'validation_required');

    err = await rejects(pb.collection('posts').create({ title: 'x'.repeat(101) }), 400);
    assert.equal(err.response.data.title.code, 'validation_max_text_constraint');

    await pb.collection('posts').create({ title: 'unique-one' });
    err = await rejects(pb.collection('posts').create({ title: 'unique-one' }), 400);
    assert.equal(err.response.data.title.code, 'validation_not_unique');

    err = await rejects(pb.collection('posts').getList(1, 10, { filter: 'nope = 1' }), 400);
    assert.ok(err.response.message.endsWith('.'));
    await rejects(pb.collection('posts').getList(1, 10, { filter: '@request.auth.id != ""' }), 403);
    await rejects(pb.collection('locked').getList(), 403);
    await rejects(pb.collection('locked').create({ x: '1' }), 403);
    await rejects(pb.collection('nope').getList(), 404);
    await rejects(pb.collection('posts').update('aaaaaaaaaaaaaaa', { n: 1 }), 404);
  });

  test('a schema change through the CLI is served without a restart', async () => {
    const more = structuredClone(schema);
    more[2].fields.push({ name: 'label', type: 'text' });
    const imp = importSchema(server.dataDir, server.folder, more);
    assert.equal(imp.status, 0, imp.stderr);
    const start = Date.now();
    let rec;
    for (;;) {
      rec = await pb.collection('bulk').create({ i: -1, label: 'new' });
      if (rec.label === 'new' || Date.now() - start > 3000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(rec.label, 'new');
    assert.ok(Date.now() - start < 2000, `took ${Date.now() - start} ms`);
  });
});
