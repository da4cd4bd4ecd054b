// Operations through the PocketBase JS SDK (0.28.x) against a real stagehand
// server: pb.backups (create with and without a name, getFullList's
// {key,size,modified}, pb.files.getToken + getDownloadURL fetched as a ZIP,
// delete, upload (a downloaded archive back, a Blob that is no ZIP refused), restore: 204, then the same address serves
// the backup's data), and access control (a guest gets 401).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import PocketBase from 'pocketbase';

import { request } from 'node:http';

import { bin, nginx, startServer } from './server.mjs';
import { rejects } from './expect.mjs';

const schema = [
  {
    name: 'notes',
    type: 'base',
    fields: [{ name: 'title', type: 'text' }],
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

async function superuser() {
  const pb = client();
  await pb.collection('_superusers').authWithPassword('ops@example.com', 'ops password 1');
  return pb;
}

before(async () => {
  server = await startServer(schema, ['--sync', 'normal', '--rate-limit-auth', 'off']);
  const r = spawnSync(bin, ['superuser', 'upsert', 'ops@example.com', 'ops password 1', '--dir',
    server.dataDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

after(async () => {
  const code = await server.stop();
  if (code === 0) server.cleanup();
  assert.equal(code, 0, `clean exit; log: ${server.readLog()}`);
});

describe('pb.settings', () => {
  test('a guest is refused', async () => {
    await rejects(client().settings.getAll(), 401);
  });

  test('getAll, update, validation, masking, a live rate limit', async () => {
    const pb = await superuser();
    const all = await pb.settings.getAll();
    for (const k of ['meta', 'logs', 'smtp', 's3', 'backups', 'batch', 'rateLimits', 'trustedProxy']) {
      assert.equal(typeof all[k], 'object', k);
    }
    const saved = await pb.settings.update({ meta: { appName: 'From the SDK' }, smtp: { password: 'sdk-secret' } });
    assert.equal(saved.meta.appName, 'From the SDK');
    assert.equal(saved.smtp.password, '');
    assert.equal((await pb.settings.getAll()).meta.appName, 'From the SDK');
    const err = await rejects(pb.settings.update({ meta: { senderAddress: 'not an email' } }), 400);
    assert.equal(err.response.data.meta.senderAddress.code, 'validation_is_email');

    await pb.settings.update({
      rateLimits: { enabled: true, rules: [{ label: '/api/health', audience: '@guest', duration: 60, maxRequests: 2 }] },
    });
    const guest = client();
    await guest.health.check();
    await guest.health.check();
    await rejects(guest.health.check(), 429);
    await pb.settings.update({ rateLimits: { enabled: false } });
    await guest.health.check();
  });
});

// GET path from the local address `from` (127.0.0.x), with extra headers.
function getFrom(from, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(server.url + path);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, localAddress: from, headers },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });
}

describe('behind nginx', { skip: !nginx && 'set STAGEHAND_NGINX to run through nginx' }, () => {
  test('rate limits count the real client address, not nginx\'s or a forged one', async () => {
    const pb = await superuser();
    await pb.settings.update({
      rateLimits: { enabled: true, rules: [{ label: '/api/health', audience: '', duration: 60, maxRequests: 2 }] },
    });
    try {
      // 127.0.0.2 and 127.0.0.3 are two clients; nginx (127.0.0.1) is the trusted proxy.
      assert.equal(await getFrom('127.0.0.2', '/api/health'), 200);
      assert.equal(await getFrom('127.0.0.2', '/api/health', { 'X-Forwarded-For': '198.51.100.1' }), 200);
      assert.equal(await getFrom('127.0.0.2', '/api/health', { 'X-Forwarded-For': '198.51.100.2' }), 429);
      assert.equal(await getFrom('127.0.0.3', '/api/health'), 200);
    } finally {
      await pb.settings.update({ rateLimits: { enabled: false } });
    }
  });

  test('stored logs name the real client address (userIP) and the proxy (remoteIP)', async () => {
    const pb = await superuser();
    assert.equal(await getFrom('127.0.0.3', '/api/health?realip=1', { 'X-Forwarded-For': '198.51.100.9' }), 200);
    const end = Date.now() + 5000;
    let items = [];
    while (!items.length && Date.now() < end) {
      items = (await pb.logs.getList(1, 5, { filter: 'data.url ~ "realip=1"' })).items;
      if (!items.length) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(items.length, 1, 'the request was stored');
    assert.equal(items[0].data.userIP, '127.0.0.3'); // not nginx's, not the forged one
    assert.equal(items[0].data.remoteIP, '127.0.0.1'); // nginx, the direct peer
  });
});

describe('pb.backups', () => {
  test('a guest is refused', async () => {
    await rejects(client().backups.getFullList(), 401);
    await rejects(client().backups.create('x.zip'), 401);
  });

  test('create, list, download, delete', async () => {
    const pb = await superuser();
    await pb.collection('notes').create({ title: 'in the backup' });
    await pb.backups.create('sdk_one.zip');
    await pb.backups.create('');
    const list = await pb.backups.getFullList();
    assert.equal(list.length, 2);
    const one = list.find((b) => b.key === 'sdk_one.zip');
    assert.ok(one, JSON.stringify(list));
    assert.ok(one.size > 100);
    assert.match(one.modified, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(list.some((b) => /^pb_backup_\d{14}\.zip$/.test(b.key)), JSON.stringify(list));
    const err = await rejects(pb.backups.create('sdk_one.zip'), 400);
    assert.equal(err.response.data.name.code, 'validation_backup_name_exists');

    const token = await pb.files.getToken();
    const res = await fetch(pb.backups.getDownloadURL(token, 'sdk_one.zip'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(bytes.length, one.size);
    assert.deepEqual([...bytes.slice(0, 4)], [0x50, 0x4b, 0x03, 0x04]);
    const denied = await fetch(pb.backups.getDownloadURL(pb.authStore.token, 'sdk_one.zip'));
    assert.equal(denied.status, 403);

    const other = list.find((b) => b.key !== 'sdk_one.zip');
    await pb.backups.delete(other.key);
    assert.deepEqual((await pb.backups.getFullList()).map((b) => b.key), ['sdk_one.zip']);
    await rejects(pb.backups.upload({ file: new Blob(['x']) }), 400);
    await pb.backups.upload({ file: new File([bytes], 'sdk_up.zip') });
    const up = (await pb.backups.getFullList()).find((b) => b.key === 'sdk_up.zip');
    assert.equal(up.size, one.size);
    await pb.backups.delete('sdk_up.zip');
  });

  test('restore brings the backup back on the same address', async () => {
    const pb = await superuser();
    await pb.collection('notes').create({ title: 'after the backup' });
    assert.equal((await pb.collection('notes').getList(1, 1, { filter: 'title="after the backup"' })).totalItems, 1);
    await pb.backups.restore('sdk_one.zip');
    const deadline = Date.now() + 15000;
    let back = false;
    while (!back && Date.now() < deadline) {
      try {
        await client().health.check();
        back = true;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(back, 'the server came back');
    const again = await superuser();
    const notes = await again.collection('notes').getFullList();
    assert.deepEqual(notes.map((n) => n.title), ['in the backup']);
  });
});
