#!/usr/bin/env node
/*
 * compat.js: drive the official `openwhisk` npm client (the JavaScript
 * client library, pinned in package.json) against an owx stack.
 *
 * Environment:
 *   __OW_API_HOST     http://127.0.0.1:PORT (read by the client itself)
 *   __OW_API_KEY      uuid:key of the namespace under test (guest)
 *   COMPAT_PUBLIC_PKG the public package to bind, e.g. /whisk.system/p
 *                     (created by the Python side first); optional
 *   COMPAT_PUBLIC_ACTION an action inside it, e.g. /whisk.system/p/echo
 *
 * Prints one JSON line per check ({"check","ok",...}) and exits 1 at the
 * first failure with {"check","ok":false,"error"}. Invocation is out of
 * scope (the JS client sends only ?blocking=true).
 */

'use strict'

const assert = require('assert')
const openwhisk = require('openwhisk')

const host = process.env.__OW_API_HOST
const key = process.env.__OW_API_KEY
const publicPkg = process.env.COMPAT_PUBLIC_PKG || ''
const publicAction = process.env.COMPAT_PUBLIC_ACTION || ''
const NOT_FOUND = 'The requested resource does not exist.'

if (!host || !key) {
  console.error('compat.js: set __OW_API_HOST and __OW_API_KEY')
  process.exit(2)
}

const ow = openwhisk()

let current = 'setup'

function pass (check, extra) {
  console.log(JSON.stringify(Object.assign({ check, ok: true }, extra || {})))
}

function fail (check, err) {
  const out = { check, ok: false, error: String(err && err.message ? err.message : err) }
  if (err && err.statusCode !== undefined) out.statusCode = err.statusCode
  if (err && err.error !== undefined) out.body = err.error
  if (err && err.actual !== undefined) {
    out.actual = err.actual
    out.expected = err.expected
  }
  console.log(JSON.stringify(out))
  console.error('compat.js: check "' + check + '" failed: ' + out.error)
  process.exit(1)
}

/* run fn (returns a promise or value); its failure ends the run */
async function check (name, fn) {
  current = name
  let r
  try {
    r = await fn()
  } catch (e) {
    fail(name, e)
  }
  pass(name)
  return r
}

/* the promise must reject with an OpenWhisk error: status and message */
async function rejects (name, promise, status, message) {
  current = name
  let value
  try {
    value = await promise
  } catch (e) {
    try {
      assert.strictEqual(e.statusCode, status, 'status')
      assert.ok(e.error && typeof e.error === 'object', 'error body is JSON')
      assert.strictEqual(typeof e.error.code, 'string', 'error body has "code"')
      if (message !== undefined) {
        assert.strictEqual(e.error.error, message, 'error message')
        assert.ok(e.message.endsWith('--> "' + message + '"'),
          'client message built from body.error: ' + e.message)
      }
    } catch (a) {
      a.message += ' (got: ' + e.message + ')'
      fail(name, a)
    }
    pass(name, { statusCode: e.statusCode })
    return e
  }
  fail(name, new Error('expected a rejection with HTTP ' + status +
                       ', got success: ' + JSON.stringify(value)))
}

function kv (arr) {
  const o = {}
  for (const e of arr || []) o[e.key] = e.value
  return o
}

function names (list) {
  return list.map(e => e.name)
}

async function main () {
  const info = await check('info document (GET /)', async () => {
    const r = await fetch(host + '/')
    assert.strictEqual(r.status, 200)
    return r.json()
  })
  const nodeKind = info.runtimes.nodejs.find(k => k.default).kind
  const ns = await check('namespaces.list', async () => {
    const l = await ow.namespaces.list()
    assert.ok(Array.isArray(l) && l.length === 1, JSON.stringify(l))
    return l[0]
  })

  /* ---- triggers ---- */
  const T = 'compat-trig'
  await check('triggers.create', async () => {
    const t = await ow.triggers.create({
      name: T,
      trigger: { parameters: [{ key: 'p', value: 1 }] }
    })
    assert.strictEqual(t.name, T)
    assert.strictEqual(t.namespace, ns)
    assert.strictEqual(t.version, '0.0.1')
    assert.deepStrictEqual(t.parameters, [{ key: 'p', value: 1 }])
    assert.deepStrictEqual(t.annotations, [])
  })
  await rejects('triggers.create existing rejects 409',
    ow.triggers.create({ name: T }), 409, 'resource already exists')
  await check('triggers.get', async () => {
    const t = await ow.triggers.get(T)
    assert.strictEqual(t.name, T)
    assert.deepStrictEqual(kv(t.parameters), { p: 1 })
  })
  await check('triggers.update', async () => {
    const t = await ow.triggers.update({
      name: T,
      trigger: { parameters: [{ key: 'p', value: 2 }], annotations: [{ key: 'a', value: 'b' }] }
    })
    assert.strictEqual(t.version, '0.0.2')
    assert.deepStrictEqual(kv(t.parameters), { p: 2 })
    assert.deepStrictEqual(kv(t.annotations), { a: 'b' })
  })
  await check('triggers.list', async () => {
    const l = await ow.triggers.list()
    assert.ok(names(l).includes(T), JSON.stringify(l))
    const c = await ow.triggers.list({ count: true })
    assert.strictEqual(c.triggers, l.length)
  })

  /* ---- actions ---- */
  const A = 'compat-a'
  const B = 'compat-b'
  const S = 'compat-seq'
  const code = 'function main(args) { return { payload: args.name || "x" } }'
  await check('actions.create (nodejs:default)', async () => {
    const a = await ow.actions.create({ name: A, action: code, params: { name: 'n' } })
    assert.strictEqual(a.name, A)
    assert.strictEqual(a.namespace, ns)
    assert.strictEqual(a.version, '0.0.1')
    assert.strictEqual(a.exec.kind, nodeKind)
    assert.strictEqual(a.exec.code, code)
    assert.strictEqual(a.exec.binary, false)
    assert.deepStrictEqual(kv(a.parameters), { name: 'n' })
    assert.strictEqual(kv(a.annotations).exec, nodeKind)
    assert.strictEqual(typeof a.limits.timeout, 'number')
  })
  await check('actions.create explicit kind', async () => {
    const a = await ow.actions.create({ name: B, action: code, kind: nodeKind })
    assert.strictEqual(a.exec.kind, nodeKind)
  })
  await rejects('actions.create existing rejects 409',
    ow.actions.create({ name: A, action: code }), 409, 'resource already exists')
  await check('actions.get', async () => {
    const a = await ow.actions.get(A)
    assert.strictEqual(a.exec.code, code)
    assert.strictEqual(a.exec.kind, nodeKind)
  })
  await check('actions.get code=false', async () => {
    const a = await ow.actions.get({ name: A, code: false })
    assert.ok(!('code' in a.exec), JSON.stringify(a.exec))
    assert.strictEqual(a.exec.kind, nodeKind)
  })
  await check('actions.update', async () => {
    const a = await ow.actions.update({ name: A, params: { name: 'm' } })
    assert.strictEqual(a.version, '0.0.2')
    assert.deepStrictEqual(kv(a.parameters), { name: 'm' })
    assert.strictEqual(a.exec.code, code, 'update without exec keeps the code')
  })
  await check('actions.create sequence', async () => {
    const a = await ow.actions.create({ name: S, sequence: ['/_/' + A, '/_/' + B] })
    assert.strictEqual(a.exec.kind, 'sequence')
    assert.deepStrictEqual(a.exec.components, ['/' + ns + '/' + A, '/' + ns + '/' + B])
  })
  await check('actions.get sequence', async () => {
    const a = await ow.actions.get(S)
    assert.strictEqual(a.exec.kind, 'sequence')
    assert.deepStrictEqual(a.exec.components, ['/' + ns + '/' + A, '/' + ns + '/' + B])
  })
  await rejects('actions.get missing rejects 404',
    ow.actions.get('compat-missing'), 404, NOT_FOUND)
  await rejects('actions.delete missing rejects 404',
    ow.actions.delete('compat-missing'), 404, NOT_FOUND)

  /* ---- packages ---- */
  const P = 'compat-pkg'
  const BIND = 'compat-bind'
  await check('packages.create', async () => {
    const p = await ow.packages.create({
      name: P, package: { parameters: [{ key: 'pp', value: 'v' }] }
    })
    assert.strictEqual(p.name, P)
    assert.strictEqual(p.namespace, ns)
    assert.strictEqual(p.version, '0.0.1')
    assert.strictEqual(p.publish, false)
    assert.deepStrictEqual(p.binding, {})
    assert.deepStrictEqual(kv(p.parameters), { pp: 'v' })
  })
  await check('actions.create in package', async () => {
    const a = await ow.actions.create({ name: P + '/inner', action: code })
    assert.strictEqual(a.name, 'inner')
    assert.strictEqual(a.namespace, ns + '/' + P)
  })
  await check('packages.get lists its actions', async () => {
    const p = await ow.packages.get(P)
    assert.deepStrictEqual(p.binding, {})
    assert.ok(Array.isArray(p.actions), JSON.stringify(p))
    assert.deepStrictEqual(names(p.actions), ['inner'])
  })
  await check('packages.update', async () => {
    const p = await ow.packages.update({ name: P, package: { publish: true } })
    assert.strictEqual(p.version, '0.0.2')
    assert.strictEqual(p.publish, true)
    assert.deepStrictEqual(kv(p.parameters), { pp: 'v' })
  })
  await check('actions.list has root and packaged actions', async () => {
    const l = await ow.actions.list()
    const fq = l.map(e => e.namespace + '/' + e.name)
    for (const n of [A, B, S]) assert.ok(fq.includes(ns + '/' + n), JSON.stringify(fq))
    assert.ok(fq.includes(ns + '/' + P + '/inner'), JSON.stringify(fq))
    const c = await ow.actions.list({ count: true })
    assert.strictEqual(c.actions, l.length)
  })
  if (publicPkg) {
    const [, pubNs, pubName] = publicPkg.split('/')
    await check('packages.list of a foreign namespace (public)', async () => {
      const l = await ow.packages.list({ namespace: pubNs })
      assert.ok(names(l).includes(pubName), JSON.stringify(l))
    })
    await check('packages.create binding', async () => {
      const p = await ow.packages.create({
        name: BIND,
        package: { binding: { namespace: pubNs, name: pubName }, parameters: [{ key: 'b', value: 1 }] }
      })
      assert.strictEqual(p.name, BIND)
      assert.deepStrictEqual(p.binding, { namespace: pubNs, name: pubName })
    })
    await check('packages.get binding', async () => {
      const p = await ow.packages.get(BIND)
      assert.deepStrictEqual(p.binding, { namespace: pubNs, name: pubName })
      assert.strictEqual(kv(p.parameters).b, 1)
      if (publicAction) {
        assert.ok(names(p.actions).includes(publicAction.split('/').pop()), JSON.stringify(p))
      }
    })
    await check('packages.list shows the binding', async () => {
      const l = await ow.packages.list()
      const b = l.find(e => e.name === BIND)
      assert.ok(b, JSON.stringify(l))
      assert.deepStrictEqual(b.binding, { namespace: pubNs, name: pubName })
      const p = l.find(e => e.name === P)
      assert.ok(p && p.binding === false, JSON.stringify(p))
    })
    if (publicAction) {
      await check('actions.get of a public packaged action', async () => {
        const a = await ow.actions.get({ name: publicAction, code: false })
        assert.strictEqual(a.name, publicAction.split('/').pop())
        assert.strictEqual(a.namespace, pubNs + '/' + pubName)
      })
      await check('actions.get through the binding', async () => {
        const a = await ow.actions.get({ name: BIND + '/' + publicAction.split('/').pop(), code: false })
        assert.strictEqual(a.name, publicAction.split('/').pop())
      })
    }
  }
  await rejects('packages.get missing rejects 404',
    ow.packages.get('compat-missing'), 404, NOT_FOUND)

  /* ---- rules ---- */
  const R = 'compat-rule'
  const ref = n => ({ path: ns, name: n })
  await check('rules.create', async () => {
    const r = await ow.rules.create({ name: R, action: A, trigger: T })
    assert.strictEqual(r.name, R)
    assert.strictEqual(r.namespace, ns)
    assert.strictEqual(r.version, '0.0.1')
    assert.strictEqual(r.status, 'active')
    assert.deepStrictEqual(r.trigger, ref(T))
    assert.deepStrictEqual(r.action, ref(A))
  })
  await check('rules.get', async () => {
    const r = await ow.rules.get(R)
    assert.strictEqual(r.status, 'active')
    assert.deepStrictEqual(r.trigger, ref(T))
    assert.deepStrictEqual(r.action, ref(A))
  })
  await check('triggers.get shows the rule', async () => {
    const t = await ow.triggers.get(T)
    assert.deepStrictEqual(t.rules, {
      [ns + '/' + R]: { action: ref(A), status: 'active' }
    })
  })
  await check('rules.disable', async () => {
    await ow.rules.disable({ name: R })
    const r = await ow.rules.get(R)
    assert.strictEqual(r.status, 'inactive')
  })
  await check('rules.disable again (same state)', () => ow.rules.disable({ name: R }))
  await check('rules.enable', async () => {
    await ow.rules.enable({ name: R })
    const r = await ow.rules.get(R)
    assert.strictEqual(r.status, 'active')
  })
  await check('rules.list', async () => {
    const l = await ow.rules.list()
    const r = l.find(e => e.name === R)
    assert.ok(r, JSON.stringify(l))
    assert.deepStrictEqual(r.trigger, ref(T))
    assert.deepStrictEqual(r.action, ref(A))
  })
  await check('rules.update (action b)', async () => {
    const r = await ow.rules.update({ name: R, action: B, trigger: T })
    assert.strictEqual(r.version, '0.0.2')
    assert.deepStrictEqual(r.action, ref(B))
  })
  await rejects('rules.get missing rejects 404',
    ow.rules.get('compat-missing'), 404, NOT_FOUND)

  /* ---- activations and namespaces ---- */
  await check('activations.list', async () => {
    const l = await ow.activations.list()
    assert.ok(Array.isArray(l), JSON.stringify(l))
    const c = await ow.activations.list({ count: true })
    assert.strictEqual(typeof c.activations, 'number', JSON.stringify(c))
  })
  await check('namespaces.get (lists the four collections)', async () => {
    const n = await ow.namespaces.get()
    assert.ok(names(n.actions).includes(A))
    assert.ok(names(n.packages).includes(P))
    assert.ok(names(n.triggers).includes(T))
    assert.ok(names(n.rules).includes(R))
  })

  /* ---- deletes ---- */
  await check('rules.delete', async () => {
    const r = await ow.rules.delete(R)
    assert.strictEqual(r.name, R)
    assert.strictEqual(r.status, 'inactive')
  })
  await rejects('rules.get deleted rejects 404', ow.rules.get(R), 404, NOT_FOUND)
  await check('actions.delete', async () => {
    for (const n of [S, A, B, P + '/inner']) {
      const a = await ow.actions.delete(n)
      assert.strictEqual(a.name, n.split('/').pop())
    }
  })
  await rejects('actions.get deleted rejects 404', ow.actions.get(A), 404, NOT_FOUND)
  if (publicPkg) {
    await check('packages.delete binding', async () => {
      const p = await ow.packages.delete(BIND)
      assert.strictEqual(p.name, BIND)
    })
  }
  await check('packages.delete', async () => {
    const p = await ow.packages.delete(P)
    assert.strictEqual(p.name, P)
  })
  await rejects('packages.get deleted rejects 404', ow.packages.get(P), 404, NOT_FOUND)
  await check('triggers.delete', async () => {
    const t = await ow.triggers.delete(T)
    assert.strictEqual(t.name, T)
  })
  await rejects('triggers.get deleted rejects 404', ow.triggers.get(T), 404, NOT_FOUND)
  await check('namespace is empty again', async () => {
    const n = await ow.namespaces.get()
    assert.deepStrictEqual([n.actions, n.packages, n.triggers, n.rules], [[], [], [], []])
  })

  console.log(JSON.stringify({ check: 'all', ok: true }))
}

main().catch(e => fail(current, e))
