#!/usr/bin/env node
/*
 * owx local Node.js runtime: the OpenWhisk action runtime protocol
 * (docs openwhisk-api.md §9, observed behaviour §14) on 127.0.0.1:<--port>.
 *
 *   node proxy.js --port N [--host IP]
 *
 * --host: the address to listen on when not handed a socket (default
 * 127.0.0.1). In its own container of a Kubernetes pod the runtime listens
 * on the pod's loopback, where the sidecar reaches it; the simulator's pods
 * share the host's loopback, so there it listens on the pod's own address.
 *
 * POST /init  {"value":{"name","main","binary","code","env"}}   exactly once
 * POST /run   {"value":{...},"namespace",...,"deadline","api_key"?}
 * POST /stream  a streaming web action (docs/streams.md): one JSON line as
 *             /run's body, then the client's body as it arrives; answered
 *             with the action's status, headers and body, chunked; with
 *             __ow_websocket, a WebSocket's messages both ways, framed
 *             (docs/websockets.md)
 *
 * Only Node's standard library (works on Node 18 and 20): zip archives are
 * unpacked here (central directory + zlib.inflateRawSync) because a fresh
 * machine may have no `unzip`.
 *
 * Status codes and error texts follow the official runtime
 * (openwhisk-runtime-nodejs, core/nodejsActionBase) so that the platform
 * classifies results exactly as OpenWhisk does.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const stream = require('stream');
const vm = require('vm');
const zlib = require('zlib');
const Module = require('module');

/* The environment the action sees is an object, not the process's own.
 * Node's process.env calls setenv(3) on every assignment, and glibc keeps
 * every distinct NAME=value string it was ever given (a pointer getenv
 * returned may still be in use, so none can be freed). The per-activation
 * keys (__OW_ACTIVATION_ID, __OW_DEADLINE, __OW_TRACEPARENT, ...) are new
 * every run: the runtime grew by ~120 bytes a variable an activation (about
 * 50 MB every 200,000 activations) and each setenv searched that ever larger
 * set (a third of a no-op activation's time). child_process hands children
 * process.env, so a child still sees the values; values become strings, as
 * with Node's own process.env. */
process.env = new Proxy(Object.assign({}, process.env), {
    set(target, key, value) {
        target[key] = String(value);
        return true;
    },
});

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n';

/* Request bodies are bounded: code may be up to 48 MB (base64 counts), run
 * payloads up to 1 MB (plus JSON escaping and the envelope). */
const MAX_INIT_BODY = 64 * 1024 * 1024;
const MAX_RUN_BODY = 8 * 1024 * 1024;
/* what a streamed answer's writes gather before they leave (batchWrites) */
const kStreamBatchBytes = 256 * 1024;
/* Zip bombs: bound the total unpacked size and the entry count. */
const MAX_UNZIPPED = 512 * 1024 * 1024;
const MAX_ENTRIES = 100000;

const Status = { ready: 'ready', starting: 'starting', running: 'running',
                 stopped: 'stopped' };

/* Concurrency is fixed at container start, as in the official runtime. */
const allowConcurrent =
    String(process.env.__OW_ALLOW_CONCURRENT || '').toLowerCase() === 'true';

let status = Status.ready;
let handler;          /* the action's main function once initialised */
let inflight = 0;
let actionDir;        /* temporary directory of an unzipped action */

function setStatus(s) {
    /* stopped is final: the container must be replaced */
    if (status !== Status.stopped) {
        status = s;
    }
}

/* The sentinel goes through the same stream objects as the action's
 * console.log / console.error, after the action has finished, so it is
 * queued behind the action's own output (pipe writes may be asynchronous). */
function writeMarkers() {
    process.stdout.write(SENTINEL);
    process.stderr.write(SENTINEL);
}

/* ---- zip ---------------------------------------------------------------- */

class ZipError extends Error {}

/* Unpacks a zip archive (Buffer) into dir, reading the central directory
 * (authoritative for sizes even when entries use data descriptors). */
function unzip(buf, dir) {
    const eocdSig = 0x06054b50;
    const min = Math.max(0, buf.length - 22 - 0xffff);
    let eocd = -1;
    for (let i = buf.length - 22; i >= min; i--) {
        if (buf.readUInt32LE(i) === eocdSig) {
            eocd = i;
            break;
        }
    }
    if (eocd < 0) {
        throw new ZipError('not a zip archive (no end of central directory)');
    }
    const count = buf.readUInt16LE(eocd + 10);
    const cdSize = buf.readUInt32LE(eocd + 12);
    const cdOffset = buf.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff) {
        throw new ZipError('zip64 archives are not supported');
    }
    if (cdOffset + cdSize > buf.length || count > MAX_ENTRIES) {
        throw new ZipError('corrupt central directory');
    }

    const root = path.resolve(dir);
    const links = [];
    let total = 0;
    let p = cdOffset;
    for (let n = 0; n < count; n++) {
        if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) {
            throw new ZipError('corrupt central directory entry');
        }
        const madeBy = buf.readUInt16LE(p + 4) >> 8;
        const flags = buf.readUInt16LE(p + 8);
        const method = buf.readUInt16LE(p + 10);
        const csize = buf.readUInt32LE(p + 20);
        const usize = buf.readUInt32LE(p + 24);
        const nameLen = buf.readUInt16LE(p + 28);
        const extraLen = buf.readUInt16LE(p + 30);
        const commentLen = buf.readUInt16LE(p + 32);
        const attrs = buf.readUInt32LE(p + 38);
        const local = buf.readUInt32LE(p + 42);
        const name = buf.toString((flags & 0x800) ? 'utf8' : 'latin1',
                                  p + 46, p + 46 + nameLen);
        p += 46 + nameLen + extraLen + commentLen;

        if (flags & 1) {
            throw new ZipError('encrypted entries are not supported: ' + name);
        }
        const target = path.resolve(root, name);
        if (name.startsWith('/') || name.includes('\\') ||
            (target !== root && !target.startsWith(root + path.sep))) {
            throw new ZipError('entry outside the archive root: ' + name);
        }
        if (name.endsWith('/')) {
            fs.mkdirSync(target, { recursive: true });
            continue;
        }

        if (local + 30 > buf.length || buf.readUInt32LE(local) !== 0x04034b50) {
            throw new ZipError('corrupt local header: ' + name);
        }
        const start = local + 30 + buf.readUInt16LE(local + 26) +
                      buf.readUInt16LE(local + 28);
        if (start + csize > buf.length) {
            throw new ZipError('truncated entry: ' + name);
        }
        total += usize;
        if (total > MAX_UNZIPPED) {
            throw new ZipError('archive expands beyond ' + MAX_UNZIPPED +
                               ' bytes');
        }
        const raw = buf.subarray(start, start + csize);
        let data;
        if (method === 0) {
            data = raw;
        } else if (method === 8) {
            data = zlib.inflateRawSync(raw, { maxOutputLength: usize || 1 });
        } else {
            throw new ZipError('unsupported compression method ' + method +
                               ': ' + name);
        }
        if (data.length !== usize) {
            throw new ZipError('size mismatch: ' + name);
        }

        const mode = madeBy === 3 ? (attrs >>> 16) : 0;
        fs.mkdirSync(path.dirname(target), { recursive: true });
        if ((mode & 0o170000) === 0o120000) {
            /* symlinks last, so no later entry is written through one */
            links.push([data.toString('utf8'), target]);
            continue;
        }
        fs.writeFileSync(target, data, { mode: (mode & 0o777) || 0o644 });
    }
    for (const [to, at] of links) {
        fs.symlinkSync(to, at);
    }
}

/* ---- init ---------------------------------------------------------------- */

/* "fn", "a.b.fn": the official runtime evaluates `module.<main>`. */
const MAIN_RE = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

function property(obj, dotted) {
    let v = obj;
    for (const k of dotted.split('.')) {
        if (v === undefined || v === null) {
            return undefined;
        }
        v = v[k];
    }
    return v;
}

function exportEnv(env) {
    if (!env || typeof env !== 'object') {
        return;
    }
    for (const k of Object.keys(env)) {
        const v = env[k];
        if (v === null || v === undefined) {
            process.env[k] = '';
        } else if (typeof v === 'object') {
            process.env[k] = JSON.stringify(v);
        } else {
            process.env[k] = String(v);
        }
    }
}

function cleanup() {
    if (actionDir) {
        try {
            fs.rmSync(actionDir, { recursive: true, force: true });
        } catch (e) {
            /* best effort at exit */
        }
        actionDir = undefined;
    }
}

/* Returns the action's function or throws (string or Error). */
function loadAction(msg) {
    const main = msg.main;
    if (!MAIN_RE.test(main)) {
        throw 'Name of main function is not valid.';
    }

    if (msg.binary) {
        const buf = Buffer.from(msg.code, 'base64');
        actionDir = fs.mkdtempSync(path.join(os.tmpdir(), 'owx-nodejs-'));
        try {
            unzip(buf, actionDir);
        } catch (e) {
            console.error(String(e && e.message || e));
            throw 'There was an error uncompressing the action archive.';
        }
        /* "file.fn": the module is file (like the official split of main) */
        const dot = main.indexOf('.');
        const index = dot > 0 ? main.slice(0, dot) : undefined;
        const fn = dot > 0 ? main.slice(dot + 1) : main;
        process.chdir(actionDir);
        if (index === undefined &&
            !fs.existsSync(path.join(actionDir, 'package.json')) &&
            !fs.existsSync(path.join(actionDir, 'index.js'))) {
            throw 'Zipped actions must contain either package.json or ' +
                  'index.js at the root.';
        }
        const mod = require(index !== undefined ? path.join(actionDir, index)
                                                : actionDir);
        return [property(mod, fn), main];
    }

    /* Plain source: evaluated as a CommonJS-like module of its own, so
     * `exports.main = ...` and `module.exports = {main}` work as well as a
     * top-level `function main`. */
    const filename = path.join(process.cwd(), '__action__.js');
    const mod = { exports: {} };
    const req = Module.createRequire(filename);
    const wrapper =
        '(function (exports, require, module, __filename, __dirname) {' +
        msg.code +
        '\n;try { return (' + main + '); } catch (e) {' +
        ' if (e && e.name === "ReferenceError") {' +
        ' return module.exports.' + main + ' || exports.' + main + '; }' +
        ' throw e; }\n})';
    const fn = vm.runInThisContext(wrapper, { filename: filename });
    return [fn.call(mod.exports, mod.exports, req, mod, filename,
                    path.dirname(filename)), main];
}

function init(msg) {
    exportEnv(msg.env);
    const [fn, main] = loadAction(msg);
    if (typeof fn !== 'function') {
        throw "Action entrypoint '" + main + "' is not a function.";
    }
    return fn;
}

/* ---- run ----------------------------------------------------------------- */

/* The shape the official runtime gives a rejected Promise's reason
 * (serialize-error): Errors become plain objects with name, message, stack
 * and their own enumerable properties; functions are dropped; cycles are
 * cut. */
function serializeError(v, seen) {
    if (v === null || typeof v !== 'object') {
        return typeof v === 'function' ? undefined : v;
    }
    seen = seen || [];
    if (seen.includes(v)) {
        return '[Circular]';
    }
    seen.push(v);
    let out;
    if (Array.isArray(v)) {
        out = v.map(x => serializeError(x, seen));
    } else {
        out = {};
        for (const k of Object.keys(v)) {
            if (typeof v[k] !== 'function') {
                out[k] = serializeError(v[k], seen);
            }
        }
        if (v instanceof Error) {
            for (const k of ['name', 'message', 'stack', 'code']) {
                if (typeof v[k] === 'string') {
                    out[k] = v[k];
                }
            }
        }
    }
    seen.pop();
    return out;
}

/* Calls main; resolves to the result, rejects only when main throws
 * synchronously (a rejected Promise is an application error result). */
function runAction(args) {
    let result;
    try {
        result = handler(args);
    } catch (e) {
        return Promise.reject(e);
    }
    return Promise.resolve(result).then(
        r => (r === undefined ? {} : r),
        e => ({ error: e ? serializeError(e) : {} }));
}

/* ---- stream (docs/streams.md) ----------------------------------------- */

/* The first line of a /stream body: the same object /run gets. Calls
 * done(err, msg) with the request positioned after it, so the action
 * reads the client's bytes from there. */
function readStreamMeta(req, done) {
    const parts = [];
    let size = 0;
    let over = false;
    function finish(err, msg) {
        if (over) {
            return;
        }
        over = true;
        req.removeListener('readable', onReadable);
        req.removeListener('end', onEnd);
        req.removeListener('error', onEnd);
        done(err, msg);
    }
    function onReadable() {
        let chunk;
        while (!over && (chunk = req.read()) !== null) {
            const nl = chunk.indexOf(10);
            if (nl < 0) {
                parts.push(chunk);
                size += chunk.length;
                if (size > MAX_RUN_BODY) {
                    return finish(new Error('metadata line too long'));
                }
                continue;
            }
            parts.push(chunk.subarray(0, nl));
            const rest = chunk.subarray(nl + 1);
            let msg;
            try {
                msg = JSON.parse(Buffer.concat(parts).toString('utf8'));
            } catch (e) {
                return finish(e);
            }
            if (rest.length) {
                req.unshift(rest);
            }
            return finish(null, msg);
        }
    }
    function onEnd() {
        finish(new Error('no metadata line'));
    }
    req.on('readable', onReadable);
    req.on('end', onEnd);
    req.on('error', onEnd);
}

/* The action failed before it answered: the sidecar makes it OpenWhisk's
 * 502 and records a developer error. */
function streamFailed(res, why) {
    if (res.headersSent) {
        /* cut: the client sees the answer end before its last chunk */
        res.destroy();
        return;
    }
    const data = Buffer.from(JSON.stringify({ error: why }), 'utf8');
    res.writeHead(502, { 'Content-Type': 'application/json',
                         'Content-Length': data.length,
                         'X-OW-Stream-Error': 'true' });
    res.end(data);
}

function isReadable(v) {
    return v && typeof v.pipe === 'function' && typeof v.on === 'function';
}

/* A streamed answer's chunks leave in one writev per turn of the event
 * loop (up to kStreamBatchBytes, then the source waits), not one write
 * each: every write wakes the reader (the sidecar), and a 64 KiB
 * chunk a wakeup cost more than the bytes. A chunk is never held past the
 * turn it was written in. */
function batchWrites(res) {
    const write = res.write;
    let corked = false;
    res.write = function (...args) {
        if (!corked) {
            corked = true;
            res.cork();
            setImmediate(() => {
                corked = false;
                res.uncork();
            });
        }
        /* the socket's own mark (16 KiB) would stop the source at
         * every chunk */
        return write.apply(this, args) || res.writableLength < kStreamBatchBytes;
    };
}

/* The action's answer: {statusCode, headers, body}, body a string, a
 * Buffer, a Readable or an (async) iterable of strings and Buffers. */
function streamAnswer(res, r, ended) {
    if (r === undefined || r === null) {
        r = {};
    }
    if (typeof r !== 'object' || Array.isArray(r)) {
        console.error('Result must be an object but has type "' +
                      (Array.isArray(r) ? 'array' : typeof r) + '".');
        streamFailed(res, 'The action did not return a dictionary.');
        return ended();
    }
    let code = Number(r.statusCode === undefined ? 200 : r.statusCode);
    if (!Number.isInteger(code) || code < 200 || code > 999) {
        console.error('Invalid statusCode: ' + r.statusCode);
        streamFailed(res, 'The action did not return a valid statusCode.');
        return ended();
    }
    const headers = (r.headers && typeof r.headers === 'object') ? r.headers : {};
    let body = r.body;
    try {
        res.writeHead(code, headers);
    } catch (e) {
        console.error('Invalid headers:', String(e));
        streamFailed(res, 'The action returned invalid headers.');
        return ended();
    }
    if (body === undefined || body === null) {
        res.end();
        return;
    }
    if (typeof body === 'string' || Buffer.isBuffer(body) ||
        body instanceof Uint8Array) {
        res.end(body);
        return;
    }
    if (!isReadable(body)) {
        if (typeof body[Symbol.asyncIterator] === 'function' ||
            typeof body[Symbol.iterator] === 'function') {
            body = stream.Readable.from(body, { objectMode: false });
        } else {
            res.end(JSON.stringify(body));
            return;
        }
    }
    batchWrites(res);
    stream.pipeline(body, res, err => {
        if (err) {
            console.error('The answer stream failed:', String(err && err.stack || err));
            res.destroy();
        }
    });
}

/* ---- WebSocket streaming handler (docs/websockets.md) ------------------ */

/* Frames between the sidecar and the runtime, both ways: 1 byte type (1
 * text, 2 binary, 8 close), 4 bytes length (big-endian), the payload. */
const WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8;

function wsFrame(type, payload) {
    const head = Buffer.alloc(5);
    head[0] = type;
    head.writeUInt32BE(payload.length, 1);
    return Buffer.concat([head, payload]);
}

/* The connection as the action sees it: an async iterable of its messages
 * (a string for a text message, a Buffer for a binary one) that ends when
 * the client closed; send(msg) and close(code) go the other way. */
class ActionSocket {
    constructor(req, res, info) {
        this.connectionId = info.connectionId;
        this.closed = false;
        this.closeCode = undefined;
        this._req = req;
        this._res = res;
        this._buf = Buffer.alloc(0);
        this._queue = [];
        this._waiters = [];
        this._ended = false;
        req.on('data', chunk => this._take(chunk));
        req.on('end', () => this._end());
        req.on('error', () => this._end());
    }
    _take(chunk) {
        this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk;
        while (this._buf.length >= 5) {
            const n = this._buf.readUInt32BE(1);
            if (this._buf.length < 5 + n) {
                break;
            }
            const type = this._buf[0];
            const payload = this._buf.subarray(5, 5 + n);
            this._buf = this._buf.subarray(5 + n);
            if (type === WS_CLOSE) {
                this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
                this._end();
                return;
            }
            this._push(type === WS_TEXT ? payload.toString('utf8') : Buffer.from(payload));
        }
    }
    _push(v) {
        const w = this._waiters.shift();
        if (w) {
            w({ value: v, done: false });
        } else {
            this._queue.push(v);
        }
    }
    _end() {
        if (this._ended) {
            return;
        }
        this._ended = true;
        for (const w of this._waiters.splice(0)) {
            w({ value: undefined, done: true });
        }
    }
    [Symbol.asyncIterator]() {
        return {
            next: () => {
                if (this._queue.length) {
                    return Promise.resolve({ value: this._queue.shift(), done: false });
                }
                if (this._ended) {
                    return Promise.resolve({ value: undefined, done: true });
                }
                return new Promise(r => this._waiters.push(r));
            },
            return: () => Promise.resolve({ value: undefined, done: true })
        };
    }
    /* a string goes as a text message, a Buffer (or Uint8Array) as binary,
     * anything else as its JSON text */
    send(msg) {
        if (this.closed) {
            return false;
        }
        if (Buffer.isBuffer(msg) || msg instanceof Uint8Array) {
            return this._res.write(wsFrame(WS_BINARY, Buffer.from(msg)));
        }
        const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
        return this._res.write(wsFrame(WS_TEXT, Buffer.from(text, 'utf8')));
    }
    close(code) {
        if (this.closed) {
            return;
        }
        this.closed = true;
        const p = Buffer.alloc(2);
        p.writeUInt16BE(code || 1000, 0);
        this._res.end(wsFrame(WS_CLOSE, p));
    }
}

/* The action takes the whole connection: main(params, socket). Its answer
 * (200, then frames) starts at once; when main returns (or its promise
 * settles) the connection is closed, 1000, or 1011 when it threw. */
function wsStream(args, req, res) {
    const socket = new ActionSocket(req, res, args.__ow_websocket || {});
    /* the upgrade completes now: main may send before it returns */
    res.writeHead(200, { 'Content-Type': 'application/x-ow-websocket' });
    res.flushHeaders();
    new Promise(resolve => resolve(handler(args, socket))).then(() => socket.close(1000), e => {
        console.error(e);
        socket.close(1011);
    });
}

function onStream(req, res) {
    if (handler === undefined) {
        req.resume();
        return refuse(res, status === Status.stopped
            ? 'System not ready, status is stopped.'
            : 'System not initialized.');
    }
    if (status !== Status.ready || (!allowConcurrent && inflight > 0)) {
        req.resume();
        return refuse(res, `System not ready, status is ${status}.`);
    }
    if (!allowConcurrent) {
        setStatus(Status.running);
    }
    inflight++;
    let over = false;
    /* once per stream, whatever ends it: the answer sent, or either
     * connection gone; then the sentinels */
    function ended() {
        if (over) {
            return;
        }
        over = true;
        inflight--;
        if (!allowConcurrent) {
            setStatus(Status.ready);
        }
        writeMarkers();
    }
    res.on('close', ended);

    readStreamMeta(req, (err, msg) => {
        if (err) {
            console.error('Malformed stream request:', String(err));
            streamFailed(res, 'Malformed stream request: ' + String(err));
            return;
        }
        msg = (msg && typeof msg === 'object' && !Array.isArray(msg)) ? msg : {};
        const args = (msg.value && typeof msg.value === 'object') ? msg.value : {};
        for (const k of Object.keys(msg)) {
            if (k !== 'value' && typeof msg[k] === 'string') {
                process.env['__OW_' + k.toUpperCase()] = msg[k];
            }
        }
        if (args.__ow_websocket) {
            return wsStream(args, req, res);
        }
        let result;
        try {
            result = handler(args, req);
        } catch (e) {
            console.error(e);
            streamFailed(res, `An error has occurred: ${e}`);
            return;
        }
        Promise.resolve(result).then(r => streamAnswer(res, r, ended), e => {
            console.error(e);
            streamFailed(res, `An error has occurred: ${e}`);
        }).catch(e => {
            console.error(e);
            res.destroy();
        });
    });
}

/* ---- HTTP ---------------------------------------------------------------- */

function reply(res, code, body) {
    let text;
    try {
        text = JSON.stringify(body);
    } catch (e) {
        code = 502;
        text = JSON.stringify({ error: 'The action did not return a ' +
                                'dictionary.' });
        console.error('Result is not serialisable:', String(e));
    }
    sendText(res, code, text);
}

function sendText(res, code, text) {
    const data = Buffer.from(text === undefined ? 'null' : text, 'utf8');
    res.writeHead(code, { 'Content-Type': 'application/json',
                          'Content-Length': data.length });
    res.end(data);
}

function error(res, code, msg) {
    reply(res, code, { error: msg });
}

function refuse(res, msg) {
    /* Refusals print nothing, not even a sentinel (§14): nothing ran, and a
     * line here would land in the logs of the activation in flight. */
    error(res, 403, msg);
}

function onInit(res, body) {
    if (handler !== undefined) {
        return refuse(res, 'Cannot initialize the action more than once.');
    }
    if (status !== Status.ready) {
        return refuse(res, `System not ready, status is ${status}.`);
    }
    const msg = (body && typeof body.value === 'object' && body.value) || {};
    if (!msg.main) {
        msg.main = 'main';
    }
    if (!msg.code || typeof msg.code !== 'string' ||
        typeof msg.main !== 'string') {
        /* the platform reads logs up to a sentinel after a failed init */
        console.error('Missing main/no code to execute.');
        writeMarkers();
        return error(res, 403, 'Missing main/no code to execute.');
    }
    setStatus(Status.starting);
    let fn;
    try {
        fn = init(msg);
    } catch (e) {
        setStatus(Status.stopped);
        console.error('Error during initialization:', e);
        writeMarkers();
        let why = e && e.stack ? String(e.stack) : String(e);
        /* vm prefixes a SyntaxError's stack with the offending source line
         * (our wrapper): start at "SyntaxError: ..." as eval would */
        const head = e && e.name ? `${e.name}: ${e.message}` : undefined;
        if (head && why.indexOf(head) > 0) {
            why = why.slice(why.indexOf(head));
        }
        return error(res, 502, 'Initialization has failed due to: ' + why);
    }
    handler = fn;
    setStatus(Status.ready);
    reply(res, 200, { OK: true });
}

function onRun(res, body) {
    if (handler === undefined) {
        return refuse(res, status === Status.stopped
            ? 'System not ready, status is stopped.'
            : 'System not initialized.');
    }
    if (status !== Status.ready || (!allowConcurrent && inflight > 0)) {
        return refuse(res, `System not ready, status is ${status}.`);
    }
    const msg = (body && typeof body === 'object' && !Array.isArray(body))
        ? body : {};
    if (msg.value === null || msg.value === undefined) {
        msg.value = {};
    } else if (typeof msg.value !== 'object') {
        return refuse(res, 'Internal system error: the argument must be a ' +
                      `dictionary but has type '${typeof msg.value}'.`);
    }
    if (!allowConcurrent) {
        setStatus(Status.running);
    }
    inflight++;

    /* per-activation keys become __OW_* environment variables */
    for (const k of Object.keys(msg)) {
        if (k !== 'value' && typeof msg[k] === 'string') {
            process.env['__OW_' + k.toUpperCase()] = msg[k];
        }
    }

    runAction(msg.value).then(result => {
        inflight--;
        if (!allowConcurrent) {
            setStatus(Status.ready);
        }
        let ok = result !== null && typeof result === 'object';
        if (!ok) {
            console.error('Result must be of type object but has type "' +
                          (result === null ? 'null' : typeof result) +
                          '":', result);
        }
        /* serialised before the sentinels, so that why it cannot be lands
         * in this activation's logs: JSON.stringify recurses once per level
         * (a result nested ~4,000 deep throws RangeError), and throws on a
         * cycle or a BigInt */
        let text;
        if (ok) {
            try {
                text = JSON.stringify(result);
            } catch (e) {
                ok = false;
                console.error('Result is not serialisable:', String(e));
            }
        }
        writeMarkers();
        if (ok) {
            sendText(res, 200, text);
        } else {
            error(res, 502, 'The action did not return a dictionary.');
        }
    }, e => {
        inflight--;
        /* a developer error: this container must be replaced */
        setStatus(Status.stopped);
        console.error(e);
        writeMarkers();
        error(res, 502, `An error has occurred: ${e}`);
    }).catch(e => {
        /* never leave a request unanswered */
        try {
            error(res, 502, 'An error has occurred: ' + e);
        } catch (e2) {
            res.destroy();
        }
    });
}

function handle(req, res) {
    const route = req.url.split('?')[0];
    if (req.method === 'POST' && route === '/stream') {
        return onStream(req, res);
    }
    const limit = route === '/init' ? MAX_INIT_BODY : MAX_RUN_BODY;
    if (req.method !== 'POST' || (route !== '/init' && route !== '/run')) {
        req.resume();
        return error(res, 404, 'Not found.');
    }
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', c => {
        size += c.length;
        if (size > limit) {
            tooLarge = true;
            chunks.length = 0;
        } else if (!tooLarge) {
            chunks.push(c);
        }
    });
    req.on('end', () => {
        if (tooLarge) {
            return error(res, 413, `Request larger than allowed: ${size} > ` +
                         `${limit} bytes.`);
        }
        let body;
        try {
            body = size ? JSON.parse(Buffer.concat(chunks).toString('utf8'))
                        : {};
        } catch (e) {
            return error(res, 400, 'Invalid JSON body: ' + e.message);
        }
        if (route === '/init') {
            onInit(res, body);
        } else {
            onRun(res, body);
        }
    });
}

function parseArgs(argv) {
    let port;
    let host = '127.0.0.1';
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--port' && i + 1 < argv.length) {
            port = Number(argv[++i]);
        } else if (argv[i].startsWith('--port=')) {
            port = Number(argv[i].slice(7));
        } else if (argv[i] === '--host' && i + 1 < argv.length) {
            host = argv[++i];
        } else {
            throw new Error('unknown argument: ' + argv[i]);
        }
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error('usage: proxy.js --port N [--host IP]');
    }
    return {port, host};
}

/*
 * ow-sidecar binds the socket (a Unix socket in a directory only it can
 * enter) and hands it over as fd 3 (systemd's LISTEN_FDS / LISTEN_PID
 * convention), so no other process can take it or reach it.
 */
function inheritedSocket() {
    if (process.env.LISTEN_FDS !== '1' ||
        process.env.LISTEN_PID !== String(process.pid)) {
        return null;
    }
    delete process.env.LISTEN_FDS;
    delete process.env.LISTEN_PID;
    return {fd: 3};
}

function main() {
    let addr;
    try {
        addr = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(e.message + '\n');
        process.exit(2);
    }
    const server = http.createServer(handle);
    /* the platform keeps connections alive and runs may last 5 minutes */
    server.timeout = 0;
    server.keepAliveTimeout = 0;
    server.requestTimeout = 0;
    server.on('error', e => {
        process.stderr.write('owx nodejs runtime: ' + e.message + '\n');
        process.exit(1);
    });
    server.listen(inheritedSocket() || addr);

    process.on('exit', cleanup);
    for (const sig of ['SIGTERM', 'SIGINT']) {
        process.on(sig, () => process.exit(0));
    }
}

main();
