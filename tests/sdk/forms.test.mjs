// Form bodies through the PocketBase JS SDK (0.28.x) against a real
// stagehand server: a sign-in posted as FormData (what pocketbase-typegen
// sends), a record created from a FormData (plain fields, repeated keys as a
// multi-valued select, scalars converted by the field's type), the SDK's own
// multipart body for an object holding a Blob (@jsonPayload plus the file
// part: refused by name with a 400 until file fields exist).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import PocketBase, { ClientResponseError } from 'pocketbase';

import { startServer } from './server.mjs';

const schema = [
  {
    name: 'users',
    type: 'auth',
    fields: [],
    listRule: 'id = @request.auth.id',
    viewRule: 'id = @request.auth.id',
    createRule: '',
    updateRule: null,
    deleteRule: null,
  },
  {
    name: 'things',
    type: 'base',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'n', type: 'number' },
      { name: 'ok', type: 'bool' },
      { name: 'tags', type: 'select', maxSelect: 3, values: ['a', 'b', 'c'] },
    ],
    listRule: '',
    viewRule: '',
    createRule: '',
    updateRule: '',
    deleteRule: '',
  },
];

let server;

function client() {
  const pb = new PocketBase(server.url);
  pb.autoCancellation(false);
  return pb;
}

before(async () => {
  server = await startServer(schema, ['--sync', 'normal', '--rate-limit-auth', 'off']);
});

after(async () => {
  const code = await server.stop();
  if (code !== 0) {
    console.error(server.readLog());
  }
  server.cleanup();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

describe('form bodies through the SDK', () => {
  test('sign-in with a multipart body (pocketbase-typegen)', async () => {
    const pb = client();
    const user = await pb.collection('users').create({
      email: 'typegen@example.com',
      password: 'typegen password',
      passwordConfirm: 'typegen password',
    });
    const form = new FormData();
    form.append('identity', 'typegen@example.com');
    form.append('password', 'typegen password');
    const auth = await pb.send('/api/collections/users/auth-with-password', {
      method: 'POST',
      body: form,
    });
    assert.equal(auth.record.id, user.id);
    assert.ok(auth.token.split('.').length === 3);
  });

  test('create from a FormData: repeats, numbers, bools', async () => {
    const pb = client();
    const form = new FormData();
    form.append('title', 'from a form');
    form.append('n', '42');
    form.append('ok', 'true');
    form.append('tags', 'a');
    form.append('tags', 'b');
    const rec = await pb.collection('things').create(form);
    assert.equal(rec.title, 'from a form');
    assert.equal(rec.n, 42);
    assert.equal(rec.ok, true);
    assert.deepEqual(rec.tags, ['a', 'b']);
    const back = await pb.collection('things').getOne(rec.id);
    assert.deepEqual(back.tags, ['a', 'b']);
  });

  test('an object with a Blob: the SDK goes multipart, the file part is refused by name', async () => {
    const pb = client();
    try {
      await pb.collection('things').create({
        title: 'with a file',
        doc: new Blob(['hello'], { type: 'text/plain' }),
      });
      assert.fail('expected a 400');
    } catch (err) {
      assert.ok(err instanceof ClientResponseError, `a ClientResponseError, got ${err}`);
      assert.equal(err.status, 400, JSON.stringify(err.response));
      assert.equal(err.response.data.doc.code, 'validation_file_unsupported');
    }
  });
});
