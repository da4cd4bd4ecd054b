// pb.createBatch() of the PocketBase JS SDK (0.28.x, pinned) against a real
// stagehand server, unchanged: create, update, upsert (both ways) and delete
// in one batch, the results in order, and a failing batch that throws the
// SDK's ClientResponseError naming the failed request and leaves nothing
// behind. The SDK sends every batch as multipart/form-data with one
// @jsonPayload field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import PocketBase, { ClientResponseError } from 'pocketbase';

import { startServer } from './server.mjs';

const open = { listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' };

const schema = [
  {
    name: 'tasks',
    type: 'base',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'done', type: 'bool' },
      { name: 'list', type: 'text' },
    ],
    ...open,
  },
  {
    name: 'locked',
    type: 'base',
    fields: [{ name: 'x', type: 'text' }],
    listRule: '',
    viewRule: '',
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

async function count(list) {
  const r = await pb.collection('tasks').getList(1, 1, { filter: pb.filter('list = {:l}', { l: list }) });
  return r.totalItems;
}

describe('batch through the SDK', () => {
  test('create, update, upsert and delete in one batch', async () => {
    const keep = await pb.collection('tasks').create({ title: 'keep', list: 'a' });
    const gone = await pb.collection('tasks').create({ title: 'gone', list: 'a' });
    const up = await pb.collection('tasks').create({ title: 'up', list: 'a' });

    const batch = pb.createBatch();
    batch.collection('tasks').create({ title: 'new', list: 'a' });
    batch.collection('tasks').update(keep.id, { done: true });
    batch.collection('tasks').upsert({ id: up.id, title: 'upserted' });
    batch.collection('tasks').upsert({ title: 'created by upsert', list: 'a' });
    batch.collection('tasks').delete(gone.id);
    batch.collection('tasks').create({ title: 'picked', list: 'a' }, { fields: 'id,title' });
    const res = await batch.send();

    assert.equal(res.length, 6);
    assert.deepEqual(
      res.map((r) => r.status),
      [200, 200, 200, 200, 204, 200],
    );
    assert.equal(res[0].body.title, 'new');
    assert.equal(res[0].body.collectionName, 'tasks');
    assert.equal(res[1].body.id, keep.id);
    assert.equal(res[1].body.done, true);
    assert.equal(res[2].body.id, up.id);
    assert.equal(res[2].body.title, 'upserted');
    assert.notEqual(res[3].body.id, up.id);
    assert.equal(res[3].body.title, 'created by upsert');
    assert.deepEqual(Object.keys(res[5].body).sort(), ['id', 'title']);

    assert.equal((await pb.collection('tasks').getOne(keep.id)).done, true);
    assert.equal((await pb.collection('tasks').getOne(up.id)).title, 'upserted');
    await assert.rejects(pb.collection('tasks').getOne(gone.id), (e) => e.status === 404);
    assert.equal(await count('a'), 5); // keep, up, new, created by upsert, picked
  });

  test('a failing batch throws, names the request and leaves nothing', async () => {
    const before = await pb.collection('tasks').create({ title: 'untouched', list: 'b' });
    const batch = pb.createBatch();
    batch.collection('tasks').create({ title: 'one', list: 'b' });
    batch.collection('tasks').update(before.id, { title: 'changed' });
    batch.collection('tasks').create({ list: 'b' }); // title is required
    batch.collection('tasks').create({ title: 'four', list: 'b' });
    let err;
    try {
      await batch.send();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ClientResponseError, `a ClientResponseError, got ${err}`);
    assert.equal(err.status, 400);
    assert.equal(err.response.message, 'Batch transaction failed.');
    const failed = err.response.data.requests['2'];
    assert.equal(failed.code, 'batch_request_failed');
    assert.equal(failed.response.status, 400);
    assert.equal(failed.response.data.title.code, 'validation_required');

    assert.equal(await count('b'), 1);
    assert.equal((await pb.collection('tasks').getOne(before.id)).title, 'untouched');
  });

  test('a forbidden request fails the whole batch', async () => {
    const batch = pb.createBatch();
    batch.collection('tasks').create({ title: 'would be kept', list: 'c' });
    batch.collection('locked').create({ x: '1' });
    await assert.rejects(batch.send(), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.response.data.requests['1'].response.status, 403);
      return true;
    });
    assert.equal(await count('c'), 0);
  });
});
