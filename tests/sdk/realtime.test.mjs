// The PocketBase JS SDK's realtime client against a real stagehand server:
// subscribe('*') and subscribe(id) receive create, update and delete events
// with the record as a GET gives it; options (filter, fields) shape them;
// unsubscribe stops them; after the server restarts on the same address the
// SDK reconnects and resubscribes by itself. Node 20 has no EventSource:
// the `eventsource` package (devDependency) provides it, as PocketBase's
// docs say for Node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventSource } from 'eventsource';
import PocketBase from 'pocketbase';

import { bin, startServer } from './server.mjs';

globalThis.EventSource = EventSource;

const open = { listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' };
const schema = [
  {
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'n', type: 'number' },
    ],
    ...open,
  },
];

// Resolves with the next n events a subscription gets (or rejects after ms).
function collector() {
  const got = [];
  let waiters = [];
  const cb = (e) => {
    got.push(e);
    waiters = waiters.filter((w) => !w());
  };
  const next = (n, ms = 5000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (got.length >= n) {
          resolve(got.splice(0, n));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} events`)), ms);
      waiters.push(() => (check() ? (clearTimeout(timer), true) : false));
    });
  return { cb, next, got };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('realtime', () => {
  let srv;
  let pb;
  before(async () => {
    srv = await startServer(schema, ['--sync', 'normal']);
    pb = new PocketBase(srv.url);
    pb.autoCancellation(false);
  });
  after(async () => {
    pb.realtime.unsubscribe();
    if (srv) {
      assert.equal(await srv.stop(), 0, srv.readLog());
      srv.cleanup();
    }
  });

  test("subscribe('*'), subscribe(id), options, unsubscribe", async () => {
    const all = collector();
    const unsubAll = await pb.collection('posts').subscribe('*', all.cb);
    const rec = await pb.collection('posts').create({ title: 'a', n: 1 });
    const [c] = await all.next(1);
    assert.equal(c.action, 'create');
    assert.deepEqual(c.record, await pb.collection('posts').getOne(rec.id));

    const one = collector();
    const unsubOne = await pb.collection('posts').subscribe(rec.id, one.cb);
    const big = collector();
    await pb.collection('posts').subscribe('*', big.cb, { filter: 'n > 5', fields: 'id,n' });
    await pb.collection('posts').update(rec.id, { n: 9 });
    const [u1] = await all.next(1);
    const [u2] = await one.next(1);
    const [u3] = await big.next(1);
    assert.equal(u1.action, 'update');
    assert.equal(u2.record.n, 9);
    assert.deepEqual(u3.record, { id: rec.id, n: 9 });
    await pb.collection('posts').create({ title: 'small', n: 1 });
    await all.next(1);
    await pb.collection('posts').delete(rec.id);
    const [d] = await one.next(1);
    assert.equal(d.action, 'delete');
    assert.equal(d.record.id, rec.id);
    await all.next(1);
    const [bd] = await big.next(1); /* the delete of n=9; never the n=1 create */
    assert.equal(bd.action, 'delete');
    assert.equal(bd.record.id, rec.id);
    assert.equal(big.got.length, 0);

    await unsubOne();
    await unsubAll();
    await pb.collection('posts').unsubscribe();
    await pb.collection('posts').create({ title: 'after', n: 10 });
    await sleep(300);
    assert.equal(all.got.length, 0);
    assert.equal(one.got.length, 0);
  });

  test('reconnects and resubscribes after a server restart', async () => {
    const all = collector();
    await pb.collection('posts').subscribe('*', all.cb);
    await pb.collection('posts').create({ title: 'before' });
    await all.next(1);
    assert.equal(await srv.stop(), 0, srv.readLog());
    // the same data on the same address
    const addr = srv.url.replace('http://', '');
    const child = spawn(
      bin,
      ['serve', '--listen', addr, '--dir', srv.dataDir, '--log-level', 'warn', '--sync', 'normal'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((resolve) => child.stdout.once('data', resolve));
    srv.stop = async () => {
      child.kill('SIGTERM');
      return exited;
    };
    srv.readLog = () => log;
    // the SDK's reconnect (backoff 200 ms, 300 ms, ...) and resubscribe
    const deadline = Date.now() + 10000;
    let created = 0;
    while (all.got.length === 0 && Date.now() < deadline) {
      await pb.collection('posts').create({ title: `after restart ${created++}` });
      await sleep(200);
    }
    assert.ok(all.got.length > 0, 'no event after the restart');
    assert.equal(all.got[0].action, 'create');
  });
});
