// Starts the real stagehand binary ($STAGEHAND_BIN) for the SDK tests: a
// temporary data folder, a schema imported with `stagehand collections
// import`, `serve` on 127.0.0.1:0, the bound address read from its first
// stdout line. stop() sends SIGTERM and resolves with the exit code, so a
// test can assert a clean shutdown (under ASan/LSan a leak is a non-zero exit).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
      '--init-schema', 'none', ...extraArgs],
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
  return {
    url: `http://${addr}`,
    dataDir,
    folder,
    log: () => log,
    async stop() {
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
