// File fields through the PocketBase JS SDK (0.28.x) against a real
// stagehand server: a record created from an object holding a File and a
// Blob (the SDK goes multipart: @jsonPayload plus the file parts), its
// stored names read back, pb.files.getURL fetching the bytes with the
// sniffed type; `files+` appending and `files-` removing through update;
// a protected file fetched with pb.files.getToken and refused without;
// a thumb of an image through getURL's `thumb` option, decoded here.
// pb.createBatch() with Files (parts requests.N.field), all or nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
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
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'cover', type: 'file', maxSelect: 1, maxSize: 100000, thumbs: ['50x0'] },
      { name: 'files', type: 'file', maxSelect: 5, maxSize: 100000 },
      { name: 'secret', type: 'file', maxSelect: 1, protected: true },
    ],
    listRule: '',
    viewRule: '@request.auth.id != ""',
    createRule: '',
    updateRule: '',
    deleteRule: '',
  },
];

const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
  1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
]);

// A w x h RGB PNG (every pixel grey), made here: signature, IHDR, IDAT, IEND.
function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function greyPng(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.alloc(h * (1 + 3 * w), 128);
  for (let y = 0; y < h; y++) rows[y * (1 + 3 * w)] = 0; // filter: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// The dimensions in a PNG's IHDR.
function pngSize(bytes) {
  const b = Buffer.from(bytes);
  assert.equal(b.subarray(1, 4).toString('latin1'), 'PNG');
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

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

describe('file fields through the SDK', () => {
  test('create with a File and Blobs, getURL fetches the bytes back', async () => {
    const pb = client();
    const rec = await pb.collection('posts').create({
      title: 'hello',
      cover: new File([PNG], 'Cover Image.png', { type: 'image/png' }),
      files: [new Blob(['first text'], { type: 'text/plain' }), new File(['second'], 'two.txt')],
    });
    assert.match(rec.cover, /^cover_image_[a-z0-9]{10}\.png$/);
    assert.equal(rec.files.length, 2);
    const res = await fetch(pb.files.getURL(rec, rec.cover));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.match(res.headers.get('content-security-policy'), /default-src 'none'/);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
    const second = await fetch(pb.files.getURL(rec, rec.files[1], { download: true }));
    assert.equal(await second.text(), 'second');
    assert.match(second.headers.get('content-disposition'), /^attachment; filename="two_/);

    // files+ appends, files- removes
    const more = await pb.collection('posts').update(rec.id, {
      'files+': new File(['third'], 'three.txt'),
    });
    assert.equal(more.files.length, 3);
    const less = await pb.collection('posts').update(rec.id, { 'files-': [rec.files[0]] });
    assert.deepEqual(less.files, more.files.slice(1));
    const gone = await fetch(pb.files.getURL(rec, rec.files[0]));
    assert.equal(gone.status, 404);
  });

  test('a protected file needs a file token the view rule lets in', async () => {
    const pb = client();
    const rec = await pb.collection('posts').create({
      title: 'secret',
      secret: new File(['classified'], 'secret.txt'),
    });
    const url = pb.files.getURL(rec, rec.secret);
    assert.equal((await fetch(url)).status, 403);
    await pb.collection('users').create({
      email: 'sdk-files@example.com',
      password: 'sdk files password',
      passwordConfirm: 'sdk files password',
    });
    await pb.collection('users').authWithPassword('sdk-files@example.com', 'sdk files password');
    const token = await pb.files.getToken();
    const res = await fetch(pb.files.getURL(rec, rec.secret, { token }));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'classified');
  });

  test('getURL with thumb fetches a thumbnail', async () => {
    const pb = client();
    const image = greyPng(200, 100);
    const rec = await pb.collection('posts').create({
      title: 'with a thumb',
      cover: new File([image], 'photo.png', { type: 'image/png' }),
    });
    const thumb = await fetch(pb.files.getURL(rec, rec.cover, { thumb: '100x100' }));
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get('content-type'), 'image/png');
    assert.deepEqual(pngSize(await thumb.arrayBuffer()), [100, 100]);
    const wide = await fetch(pb.files.getURL(rec, rec.cover, { thumb: '50x0' }));
    assert.deepEqual(pngSize(await wide.arrayBuffer()), [50, 25]);
    // a size the field does not list: the original
    const other = await fetch(pb.files.getURL(rec, rec.cover, { thumb: '20x20' }));
    assert.deepEqual(Buffer.from(await other.arrayBuffer()), image);
  });

  test('createBatch() uploads Files with its records, all or nothing', async () => {
    const pb = client();
    const first = await pb.collection('posts').create({ title: 'batch target' });
    const batch = pb.createBatch();
    batch.collection('posts').create({
      title: 'batched',
      cover: new File([PNG], 'batch cover.png', { type: 'image/png' }),
      files: [new File(['b one'], 'b1.txt'), new File(['b two'], 'b2.txt')],
    });
    batch.collection('posts').update(first.id, { 'files+': new File(['appended'], 'app.txt') });
    const res = await batch.send();
    assert.equal(res.length, 2);
    assert.equal(res[0].status, 200, JSON.stringify(res[0]));
    const made = res[0].body;
    assert.match(made.cover, /^batch_cover_[a-z0-9]{10}\.png$/);
    assert.equal(made.files.length, 2);
    const got = await fetch(pb.files.getURL(made, made.files[1]));
    assert.equal(await got.text(), 'b two');
    const upd = res[1].body;
    assert.equal(upd.files.length, 1);
    assert.equal(await (await fetch(pb.files.getURL(upd, upd.files[0]))).text(), 'appended');

    // the second request fails (a file over maxSize): nothing of the batch stays
    const bad = pb.createBatch();
    bad.collection('posts').create({ title: 'rolled back', cover: new File(['x'], 'x.txt') });
    bad.collection('posts').create({ cover: new Blob([new Uint8Array(100001)]) });
    try {
      await bad.send();
      assert.fail('expected a 400');
    } catch (err) {
      assert.ok(err instanceof ClientResponseError, `a ClientResponseError, got ${err}`);
      assert.equal(err.status, 400, JSON.stringify(err.response));
      assert.equal(err.response.data.requests['1'].response.data.cover.code,
        'validation_file_size_limit');
    }
    const left = await pb.collection('posts').getList(1, 1, { filter: 'title = "rolled back"' });
    assert.equal(left.totalItems, 0);
  });

  test('a file over maxSize is refused with PocketBase\'s code', async () => {
    const pb = client();
    try {
      await pb.collection('posts').create({ cover: new Blob([new Uint8Array(100001)]) });
      assert.fail('expected a 400');
    } catch (err) {
      assert.ok(err instanceof ClientResponseError, `a ClientResponseError, got ${err}`);
      assert.equal(err.status, 400, JSON.stringify(err.response));
      assert.equal(err.response.data.cover.code, 'validation_file_size_limit');
    }
  });
});
