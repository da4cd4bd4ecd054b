// One app served by a group, driven by the PocketBase JS SDK through a real
// nginx: a redis-server of the test's own, three stagehand instances on one
// data directory (--redis), nginx proxying round-robin (deploy/nginx.conf).
// Consecutive requests land on different instances: a record written is read
// back at once wherever the read lands; a subscriber connected to one
// instance receives every event once, whichever instance committed the write;
// a logout holds on every instance from the next request; a rate limit is the
// group's. Skipped when no nginx is installed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

import { EventSource } from 'eventsource';
import PocketBase from 'pocketbase';

import { startGroup } from './server.mjs';

globalThis.EventSource = EventSource;

const nginxBin = process.env.STAGEHAND_NGINX || (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : '');

const schema = [
  {
    name: 'members', type: 'auth', fields: [],
    listRule: 'id = @request.auth.id', viewRule: 'id = @request.auth.id',
    createRule: '', updateRule: 'id = @request.auth.id', deleteRule: null,
  },
  {
    name: 'notes', type: 'base',
    fields: [
      { name: 'n', type: 'number' },
      { name: 'owner', type: 'relation', collectionId: 'members', maxSelect: 1 },
    ],
    listRule: "owner = '' || owner = @request.auth.id", viewRule: "owner = '' || owner = @request.auth.id",
    createRule: '', updateRule: '', deleteRule: '',
  },
];

let group;
const client = () => new PocketBase(group.url);

before(async () => {
  if (!nginxBin) return;
  group = await startGroup(schema, 3, ['--rate-limit-auth', '12/1m'], nginxBin);
});

after(async () => {
  if (!group) return;
  const codes = await group.stop();
  group.cleanup();
  assert.deepEqual(codes, [0, 0, 0], 'every instance exits cleanly on SIGTERM');
});

describe('three instances behind nginx', { skip: !nginxBin && 'no nginx installed' }, () => {
  test('a write is read back at once wherever the read lands', async () => {
    const pb = client();
    for (let i = 0; i < 6; i++) {
      const rec = await pb.collection('notes').create({ n: i });
      for (let k = 0; k < 3; k++) {
        assert.equal((await pb.collection('notes').getOne(rec.id)).n, i);
      }
    }
  });

  test('a subscriber gets each event once, whichever instance wrote', async () => {
    const sub = client();
    const seen = [];
    const unsubscribe = await sub.collection('notes').subscribe('*', (e) => {
      if (e.action === 'create') seen.push(e.record.n);
    });
    const writer = client();
    for (let i = 0; i < 9; i++) await writer.collection('notes').create({ n: 100 + i });
    const deadline = Date.now() + 5000;
    while (seen.length < 9 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive meanwhile
    await unsubscribe();
    assert.deepEqual([...seen].sort((a, b) => a - b), [100, 101, 102, 103, 104, 105, 106, 107, 108]);
  });

  test('a logout holds on every instance from the next request', async () => {
    const pb = client();
    await pb.collection('members').create({ email: 'gia@example.com', password: 'password123', passwordConfirm: 'password123' });
    await pb.collection('members').authWithPassword('gia@example.com', 'password123');
    const token = pb.authStore.token;
    const me = pb.authStore.record.id;
    await pb.collection('notes').create({ n: 7, owner: me });
    for (let i = 0; i < 6; i++) { // verified on each instance, then from its token cache
      assert.equal((await pb.collection('notes').getList(1, 1, { filter: 'n = 7' })).totalItems, 1);
    }
    await pb.send(`/api/collections/members/auth-logout`, { method: 'POST' });
    const stale = client();
    stale.authStore.save(token, null);
    for (let i = 0; i < 6; i++) {
      assert.equal((await stale.collection('notes').getList(1, 1, { filter: 'n = 7' })).totalItems, 0);
    }
  });

  test('the auth rate limit counts the requests of all three', async () => {
    const pb = client();
    let allowed = 0;
    for (let i = 0; i < 36; i++) {
      try {
        await pb.collection('members').requestPasswordReset('nobody@example.com');
        allowed++;
      } catch (err) {
        assert.equal(err.status, 429);
      }
    }
    // 12/1m per address, counted apart: 36; counted by the group: 12 plus what one round
    // trip to Redis lets through per instance. The earlier sign-up and sign-in count too.
    assert.ok(allowed <= 13, `${allowed} allowed`);
    assert.ok(allowed >= 6, `${allowed} allowed`);
  });
});
