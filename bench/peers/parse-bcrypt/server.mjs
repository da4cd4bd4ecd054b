// bench/peers/parse-bcrypt/server.mjs — the peer of `scripts/bench signin`: the work Parse
// Server 9 does for one sign-in, behind a minimal HTTP server. Parse itself needs MongoDB,
// which cannot run here; what bounds a Parse sign-in is its password check, and that is what
// this server does the same way: Parse's src/password.js calls @node-rs/bcrypt's `verify`
// (its optional dependency, installed on linux-x64; `bcryptjs` only when that is missing) on a
// cost-10 hash, on libuv's thread pool. Around it: the JSON body read, the user looked up by
// email, a random `r:` session token as Parse issues, a JSON user answer. No database, so
// the peer's per-request cost outside bcrypt is, if anything, lower than Parse's.
//
//   node server.mjs EMAIL_FMT COUNT PASSWORD [bcryptjs]
// EMAIL_FMT has one %d, replaced by 0..COUNT-1; each account gets its own cost-10 hash of
// PASSWORD at start. Listens on 127.0.0.1, an ephemeral port, and prints "127.0.0.1:PORT"
// on stdout once the hashes are made. POST /api/collections/users/auth-with-password with
// {"identity","password"} answers 200 {"token","record"}, or 400 in stagehand's error shape
// when the pair does not match; GET /api/health answers stagehand's health body.
import http from 'node:http';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [fmt, countArg, password, lib = 'node-rs'] = process.argv.slice(2);
const count = Number(countArg);
if (!fmt || !fmt.includes('%d') || !(count > 0) || !password) {
    console.error('usage: node server.mjs EMAIL_FMT COUNT PASSWORD [bcryptjs]');
    process.exit(2);
}

let bcrypt;
if (lib === 'bcryptjs') {
    bcrypt = require('bcryptjs');
} else {
    const b = require('@node-rs/bcrypt');
    bcrypt = { hash: b.hash, compare: b.verify };
}

const COST = 10; // Parse's src/password.js: bcrypt.hash(password, 10)
const MAX_BODY = 16 * 1024;
const MAX_SESSIONS = 100000; // a benchmark's worth; the oldest are dropped past it
const users = new Map(); // email -> {id, email, hash}
const sessions = new Map(); // token -> user id

const health = JSON.stringify({ code: 200, message: 'API is healthy.', data: {} });
const failed = JSON.stringify({ status: 400, message: 'Failed to authenticate.', data: {} });

function send(res, status, body) {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
}

async function signIn(res, raw) {
    let req;
    try {
        req = JSON.parse(raw);
    } catch {
        return send(res, 400, failed);
    }
    const user = typeof req.identity === 'string' ? users.get(req.identity.toLowerCase()) : undefined;
    if (!user || typeof req.password !== 'string' || !(await bcrypt.compare(req.password, user.hash)))
        return send(res, 400, failed);
    const token = 'r:' + crypto.randomBytes(16).toString('hex'); // Parse's session token shape
    if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value);
    sessions.set(token, user.id);
    send(res, 200, JSON.stringify({
        token,
        record: { id: user.id, email: user.email, verified: true, created: user.created, updated: user.created },
    }));
}

const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/api/health') return send(res, 200, health);
    if (req.method !== 'POST' || req.url !== '/api/collections/users/auth-with-password')
        return send(res, 404, JSON.stringify({ status: 404, message: 'Not found.', data: {} }));
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
        size += c.length;
        if (size > MAX_BODY) {
            send(res, 413, JSON.stringify({ status: 413, message: 'Body too large.', data: {} }));
            req.destroy();
        } else chunks.push(c);
    });
    req.on('end', () => {
        if (size <= MAX_BODY)
            signIn(res, Buffer.concat(chunks).toString('utf8')).catch(() => send(res, 500, failed));
    });
});
server.keepAliveTimeout = 60000;

const created = new Date().toISOString().replace('T', ' ');
for (let i = 0; i < count; i++) {
    const email = fmt.replace('%d', String(i));
    users.set(email.toLowerCase(), {
        id: crypto.randomBytes(8).toString('hex').slice(0, 15),
        email,
        created,
        hash: await bcrypt.hash(password, COST),
    });
}
server.listen(0, '127.0.0.1', () => console.log(`127.0.0.1:${server.address().port}`));
