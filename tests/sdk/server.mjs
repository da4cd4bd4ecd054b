// Starts the real stagehand binary ($STAGEHAND_BIN) for the SDK tests: a
// temporary data folder, a schema imported with `stagehand collections
// import`, `serve` on 127.0.0.1:0, the bound address read from its first
// stdout line. stop() sends SIGTERM and resolves with the exit code, so a
// test can assert a clean shutdown (under ASan/LSan a leak is a non-zero exit).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// With STAGEHAND_NGINX (the nginx binary), every server is reached through
// a real nginx running deploy/nginx.conf (its upstream and listen address
// replaced by test ports), and stagehand gets --trusted-proxy 127.0.0.1.
export const nginx = process.env.STAGEHAND_NGINX || '';
const deployConf = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'nginx.conf');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function startNginx(folder, upstream, nginxBin = nginx) {
  const port = await freePort();
  const prefix = join(folder, 'nginx');
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const site = readFileSync(deployConf, 'utf8')
    .replaceAll('server 127.0.0.1:8090;', `server ${upstream};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`);
  if (site.includes(':8090') || !site.includes(`${port}`)) {
    throw new Error('deploy/nginx.conf no longer has the addresses the test replaces');
  }
  writeFileSync(join(prefix, 'site.conf'), site);
  const user = process.getuid && process.getuid() === 0 ? 'user root;\n' : '';
  writeFileSync(join(prefix, 'nginx.conf'), `${user}daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  include ${prefix}/site.conf;
}
`);
  const child = spawn(nginxBin, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(sig ? 128 : code)));
  const deadline = Date.now() + 10000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${log} ${readFileSync(join(prefix, 'error.log'), 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export const bin = process.env.STAGEHAND_BIN;
if (!bin) {
  throw new Error('set STAGEHAND_BIN to the stagehand binary');
}

export function importSchema(dataDir, folder, schema) {
  const file = join(folder, `schema-${Date.now()}-${Math.random()}.json`);
  writeFileSync(file, JSON.stringify(schema));
  const r = spawnSync(bin, ['collections', 'import', file, '--dir', dataDir], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function startServer(schema, extraArgs = []) {
  const folder = mkdtempSync(join(tmpdir(), 'stagehand-sdk-'));
  const dataDir = join(folder, 'data');
  const imp = importSchema(dataDir, folder, schema);
  if (imp.status !== 0) {
    throw new Error(`schema import failed (${imp.status}): ${imp.stderr}`);
  }
  const logPath = join(folder, 'stderr.log');
  const child = spawn(
    bin,
    // no default `users` collection unless extraArgs ask ('--init-schema', 'default')
    ['serve', '--listen', '127.0.0.1:0', '--dir', dataDir, '--log-level', 'warn',
      '--init-schema', 'none', ...(nginx ? ['--trusted-proxy', '127.0.0.1'] : []), ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(sig ? 128 : code)));
  const addr = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no address after 15 s: ${log}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl).trim());
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${log}`)));
  });
  const front = nginx ? await startNginx(folder, addr) : null;
  return {
    url: front ? front.url : `http://${addr}`,
    direct: `http://${addr}`,
    nginx: front,
    dataDir,
    folder,
    log: () => log,
    async stop() {
      if (front) await front.stop();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(timer);
      writeFileSync(logPath, log);
      return code;
    },
    cleanup() {
      rmSync(folder, { recursive: true, force: true });
    },
    readLog() {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return log;
      }
    },
  };
}

// A group: a redis-server of its own (unix socket, started and stopped by
// pid), `count` instances of stagehand on one data directory, each with
// --redis and --trusted-proxy 127.0.0.1, and a real nginx (deploy/nginx.conf)
// proxying round-robin to them. nginxBin: the nginx binary.
export async function startGroup(schema, count, extraArgs, nginxBin) {
  const folder = mkdtempSync(join(tmpdir(), 'stagehand-group-'));
  const dataDir = join(folder, 'data');
  const imp = importSchema(dataDir, folder, schema);
  if (imp.status !== 0) throw new Error(`schema import failed (${imp.status}): ${imp.stderr}`);
  const sock = join(folder, 'redis.sock');
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '',
    '--appendonly', 'no', '--dir', folder], { stdio: 'ignore' });
  const redisExited = new Promise((resolve) => redis.on('exit', () => resolve()));
  for (let i = 0; i < 500 && !(await canConnectUnix(sock)); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const members = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--dir', dataDir, '--log-level',
      'warn', '--init-schema', 'none', '--trusted-proxy', '127.0.0.1', '--redis', `unix:${sock}`,
      '--redis-timeout', '200ms', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d) => { log += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(sig ? 128 : code)));
    const addr = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no address after 15 s: ${log}`)), 15000);
      child.stdout.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl).trim()); }
      });
      child.on('exit', (code) => reject(new Error(`instance exited with ${code}: ${log}`)));
    });
    members.push({ child, exited, addr, log: () => log });
  }
  const front = await startNginx(folder, members.map((m) => m.addr).join('; server '), nginxBin);
  return {
    url: front.url,
    dataDir,
    members,
    async stop() {
      await front.stop();
      const codes = [];
      for (const m of members) {
        m.child.kill('SIGTERM');
        const timer = setTimeout(() => m.child.kill('SIGKILL'), 15000);
        codes.push(await m.exited);
        clearTimeout(timer);
      }
      redis.kill('SIGKILL');
      await redisExited;
      return codes;
    },
    cleanup() { rmSync(folder, { recursive: true, force: true }); },
  };
}

function canConnectUnix(path) {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
