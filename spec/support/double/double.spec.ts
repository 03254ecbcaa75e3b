/**
 * Specs of the Arvados double itself, over raw HTTPS: error shape, validation, paging, blob
 * signatures, container lifecycle with real mounts, API environment, cancellation, reuse, faults.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Crypto from 'node:crypto'
import * as Manifest from './manifest.js'
import { startDouble, requestAgainst, type Double } from './index.js'

const md5 = (b: Buffer): string => Crypto.createHash('md5').update(b).digest('hex')
type J = Record<string, unknown>

const withDouble = <T>(name: string, opts: Parameters<typeof startDouble>[0] = {}) => {
  const s = suite<{ d: Double }>(name, {} as { d: Double })
  s.before(async (ctx) => {
    ctx.d = await startDouble(opts)
  })
  s.after(async (ctx) => {
    await ctx.d.stop()
  })
  return s as unknown as ReturnType<typeof suite<{ d: Double }>> & T
}

const putBlock = async (d: Double, data: Buffer, token = d.token): Promise<string> => {
  const r = await requestAgainst(d, 'PUT', d.keepUrl + md5(data), data, { token })
  assert.is(r.status, 200, r.text)
  return r.text.trim()
}

const crBody = (extra: J = {}): J => ({
  command: ['sh', '-c', 'true'],
  container_image: 'arvados/jobs:latest',
  output_path: '/out',
  mounts: { '/out': { kind: 'tmp', capacity: 1 << 20 } },
  runtime_constraints: { vcpus: 1, ram: 1 << 26 },
  priority: 1,
  state: 'Committed',
  ...extra,
})

const rejects = async (f: () => Promise<unknown>): Promise<string> => {
  try {
    await f()
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
  throw new assert.Assertion({ message: 'expected the request to fail', generated: false, operator: 'rejects', expects: 'rejection', actual: 'resolution' })
}

const fileOf = (d: Double, collectionUuid: string, path: string): string | undefined => {
  const c = d.cluster.collections.get(collectionUuid)
  const f = Manifest.files(c?.['manifest_text'] as string).files.find((x) => x.path === path)
  return f === undefined ? undefined : d.cluster.readFile(f).toString('utf8')
}

// ------------------------------------------------------------------ errors and auth
const errors = withDouble('errors and auth')
errors('should answer 401 Not logged in with an errors array when no token is given', async ({ d }) => {
  const r = await requestAgainst(d, 'GET', 'users/current', undefined, { token: null })
  assert.is(r.status, 401)
  const body = r.json as { errors: Array<string> }
  assert.ok(Array.isArray(body.errors))
  assert.match(body.errors[0] as string, /Not logged in/)
  assert.match(body.errors[0] as string, /\(req-[0-9a-z]{20}\)/)
})
errors('should echo the X-Request-Id the client sent, in the header and the message', async ({ d }) => {
  const r = await requestAgainst(d, 'GET', 'collections/zzzzz-4zz18-000000000000000', undefined, { headers: { 'X-Request-Id': 'req-abcdefghij0123456789' } })
  assert.is(r.status, 404)
  assert.is(r.headers['x-request-id'], 'req-abcdefghij0123456789')
  assert.match((r.json as { errors: Array<string> }).errors[0] as string, /404 Not Found: .*\(req-abcdefghij0123456789\)/)
})
errors('should give Rails-style errors with error_token for containers', async ({ d }) => {
  const r = await requestAgainst(d, 'GET', 'containers/zzzzz-dz642-000000000000000')
  assert.is(r.status, 404)
  const body = r.json as { errors: Array<string>; error_token: string }
  assert.match(body.error_token, /^\d+\+[0-9a-f]{8}$/)
  assert.not.match(body.errors[0] as string, /railsapi/)
})
errors('should answer 404 API endpoint not found for an unknown route', async ({ d }) => {
  const r = await requestAgainst(d, 'GET', 'widgets')
  assert.is(r.status, 404)
  assert.equal(r.json, { errors: ['API endpoint not found'] })
})
errors('should answer users/current and api_client_authorizations/current with the real field names', async ({ d }) => {
  const u = (await requestAgainst(d, 'GET', 'users/current')).json as J
  assert.is(u['kind'], 'arvados#user')
  assert.is(u['uuid'], d.userUuid)
  assert.is(u['is_admin'], false)
  const t = (await requestAgainst(d, 'GET', 'api_client_authorizations/current')).json as J
  assert.is(t['kind'], 'arvados#apiClientAuthorization')
  assert.is(t['owner_uuid'], d.userUuid)
  assert.equal(t['scopes'], ['all'])
  assert.is(`v2/${t['uuid'] as string}/${t['api_token'] as string}`, d.token)
})
errors('should answer containers/current with 404 for a user token', async ({ d }) => {
  const r = await requestAgainst(d, 'GET', 'containers/current')
  assert.is(r.status, 404)
  assert.match((r.json as { errors: Array<string> }).errors[0] as string, /Token is not associated with a container/)
})

// ------------------------------------------------------------------ validation
const validation = withDouble('validation against the discovery schemas')
validation('should reject an unknown attribute with 422 naming it', async ({ d }) => {
  const r = await requestAgainst(d, 'POST', 'collections', { collection: { name: 'x', colour: 'red' } })
  assert.is(r.status, 422)
  assert.match((r.json as { errors: Array<string> }).errors[0] as string, /unknown attribute 'colour' for Collection/)
})
validation('should reject a wrongly typed attribute with 422', async ({ d }) => {
  const r = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ command: 'echo hi' }) })
  assert.is(r.status, 422)
  assert.match((r.json as { errors: Array<string> }).errors[0] as string, /command must be an array/)
})
validation('should accept an unwrapped JSON body and a form body with a JSON-string wrapper', async ({ d }) => {
  const a = await requestAgainst(d, 'POST', 'collections', { name: 'unwrapped', manifest_text: '' })
  assert.is(a.status, 200, a.text)
  assert.is((a.json as J)['name'], 'unwrapped')
  const b = await requestAgainst(d, 'POST', 'collections', new URLSearchParams({ collection: JSON.stringify({ name: 'form' }) }))
  assert.is(b.status, 200, b.text)
  assert.is((b.json as J)['name'], 'form')
})
validation('should answer 400 for a non-integer limit', async ({ d }) => {
  const r = await requestAgainst(d, 'GET', 'collections?limit=many')
  assert.is(r.status, 400)
  assert.match((r.json as { errors: Array<string> }).errors[0] as string, /limit/)
})
validation('should reject unexpected runtime_constraints keys and a Committed request without ram', async ({ d }) => {
  const a = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ runtime_constraints: { vcpus: 1, ram: 1, disk: 5 } }) })
  assert.is(a.status, 422)
  assert.match((a.json as { errors: Array<string> }).errors[0] as string, /unexpected keys: disk/)
  const b = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ runtime_constraints: { vcpus: 1 } }) })
  assert.is(b.status, 422)
  assert.match((b.json as { errors: Array<string> }).errors[0] as string, /ram must be a positive integer/)
})
validation('should require output_path to be a mount and refuse unknown mount kinds', async ({ d }) => {
  const a = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ output_path: '/elsewhere' }) })
  assert.is(a.status, 422)
  assert.match((a.json as { errors: Array<string> }).errors[0] as string, /must be a mount target/)
  const b = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ mounts: { '/out': { kind: 'git_tree' } } }) })
  assert.is(b.status, 422)
  assert.match((b.json as { errors: Array<string> }).errors[0] as string, /unsupported value/)
})
validation('should echo server defaults and refuse illegal state transitions', async ({ d }) => {
  const r = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ state: 'Uncommitted' }) })
  const cr = r.json as J
  assert.equal((cr['scheduling_parameters'] as J)['partitions'], [])
  assert.is((cr['runtime_constraints'] as J)['API'], false)
  assert.is(cr['use_existing'], true)
  assert.is(cr['container_count_max'], 3)
  assert.equal(cr['output_storage_classes'], ['default'])
  const bad = await requestAgainst(d, 'PUT', `container_requests/${cr['uuid'] as string}`, { container_request: { state: 'Final' } })
  assert.is(bad.status, 422)
  assert.match((bad.json as { errors: Array<string> }).errors[0] as string, /cannot change from Uncommitted to Final/)
})

// ------------------------------------------------------------------ listing
const listing = withDouble('list defaults, filters, order, select, paging', { maxPageLimit: 7 })
listing('should page with the real defaults and cap limit at maxPageLimit', async ({ d }) => {
  for (let i = 0; i < 12; i++) assert.is((await requestAgainst(d, 'POST', 'collections', { collection: { name: `c${i}`, properties: { n: i } } })).status, 200)
  const r = (await requestAgainst(d, 'GET', 'collections')).json as J
  assert.is(r['kind'], 'arvados#collectionList')
  assert.is(r['offset'], 0)
  assert.is(r['limit'], 7)
  assert.is(r['items_available'], 12)
  const items = r['items'] as Array<J>
  assert.is(items.length, 7)
  assert.is(items[0]?.['name'], 'c11') // modified_at desc
  assert.is(items[0]?.['manifest_text'], '')
  const none = (await requestAgainst(d, 'GET', 'collections?count=none&offset=10')).json as J
  assert.not.ok('items_available' in none)
  assert.is((none['items'] as Array<J>).length, 2)
})
listing('should apply filters on properties, in, and order/select', async ({ d }) => {
  const q = new URLSearchParams({ filters: JSON.stringify([['properties.n', '>=', 3], ['name', 'in', ['c3', 'c4', 'c9']]]), order: JSON.stringify(['name asc']), select: JSON.stringify(['name']) })
  const r = (await requestAgainst(d, 'GET', `collections?${q.toString()}`)).json as J
  assert.equal((r['items'] as Array<J>).map((x) => x['name']), ['c3', 'c4', 'c9'])
  assert.equal(Object.keys((r['items'] as Array<J>)[0] as J).sort(), ['etag', 'kind', 'name'])
})
listing('should accept POST with _method=GET for a list', async ({ d }) => {
  const r = await requestAgainst(d, 'POST', 'collections', new URLSearchParams({ _method: 'GET', filters: JSON.stringify([['name', '=', 'c5']]) }))
  assert.is(r.status, 200)
  assert.is((r.json as J)['items_available'], 1)
})
listing('should answer 422 for an unknown filter attribute and an unknown select', async ({ d }) => {
  const a = await requestAgainst(d, 'GET', `collections?filters=${encodeURIComponent(JSON.stringify([['colour', '=', 'x']]))}`)
  assert.is(a.status, 422)
  assert.match((a.json as { errors: Array<string> }).errors[0] as string, /Invalid attribute 'colour' in filter/)
  const b = await requestAgainst(d, 'GET', `collections?select=${encodeURIComponent(JSON.stringify(['colour']))}`)
  assert.is(b.status, 422)
})

const indexed = withDouble('lists narrowed by indexes', { runContainers: false })
indexed('should find records by uuid, state, container, property and name after they change', async ({ d }) => {
  const list = async (resource: string, filters: unknown): Promise<Array<string>> => {
    const r = await requestAgainst(d, 'GET', `${resource}?${new URLSearchParams({ filters: JSON.stringify(filters), select: JSON.stringify(['uuid']), limit: '1000' }).toString()}`)
    assert.is(r.status, 200, r.text)
    return ((r.json as J)['items'] as Array<J>).map((x) => x['uuid'] as string).sort()
  }
  const made = async (extra: J): Promise<J> => (await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody(extra) })).json as J
  const a = await made({ state: 'Uncommitted', properties: { k: 'x' } })
  const b = await made({ state: 'Uncommitted', properties: { k: 'x' } })
  const c = await made({ properties: { k: 'y' } })
  const [ua, ub, uc] = [a, b, c].map((x) => x['uuid'] as string) as [string, string, string]
  assert.equal(await list('container_requests', [['properties.k', '=', 'x']]), [ua, ub].sort())
  assert.equal(await list('container_requests', [['uuid', 'in', [ua, uc, ua, 'zzzzz-xvhdp-000000000000000']]]), [ua, uc].sort())
  assert.equal(await list('container_requests', [['state', '=', 'Committed']]), [uc])
  assert.equal(await list('container_requests', [['container_uuid', 'in', [null]]]), [ua, ub].sort())
  assert.equal(await list('container_requests', [['container_uuid', '=', c['container_uuid']]]), [uc])
  // b changes property and state: the indexes follow
  assert.is((await requestAgainst(d, 'PUT', `container_requests/${ub}`, { container_request: { state: 'Committed', properties: { k: 'y' } } })).status, 200)
  assert.equal(await list('container_requests', [['properties.k', '=', 'x']]), [ua])
  assert.equal(await list('container_requests', [['properties.k', 'in', ['y']], ['state', '=', 'Committed']]), [ub, uc].sort())
  const cb = d.cluster.crs.get(ub)?.['container_uuid'] as string
  assert.equal(await list('containers', [['uuid', 'in', [cb]], ['state', 'in', ['Queued', 'Locked']]]), [cb])
  assert.equal(await list('containers', [['uuid', 'in', [cb]], ['state', '=', 'Complete']]), [])
  // a collection renamed is found by its new name only
  const col = (await requestAgainst(d, 'POST', 'collections', { collection: { name: 'before' } })).json as J
  assert.is((await requestAgainst(d, 'PUT', `collections/${col['uuid'] as string}`, { collection: { name: 'after' } })).status, 200)
  assert.equal(await list('collections', [['name', '=', 'before']]), [])
  assert.equal(await list('collections', [['name', 'in', ['after', 'other']]]), [col['uuid'] as string])
})

// ------------------------------------------------------------------ keep and signatures
const keep = withDouble('Keep blocks and collection signatures')
keep('should list the Keep service without a token', async ({ d }) => {
  const r = (await requestAgainst(d, 'GET', 'keep_services/accessible', undefined, { token: null })).json as J
  const item = (r['items'] as Array<J>)[0] as J
  assert.is(`https://${item['service_host'] as string}:${item['service_port'] as number}/`, d.keepUrl)
  assert.is(item['service_ssl_flag'], true)
  assert.is(item['service_type'], 'disk')
})
keep('should sign on PUT and check signatures on GET', async ({ d }) => {
  const data = Buffer.from('hello keep')
  const loc = await putBlock(d, data)
  assert.match(loc, new RegExp(`^${md5(data)}\\+10\\+A[0-9a-f]{40}@[0-9a-f]{8}$`))
  const ok = await requestAgainst(d, 'GET', d.keepUrl + loc)
  assert.is(ok.text, 'hello keep')
  assert.is((await requestAgainst(d, 'GET', d.keepUrl + `${md5(data)}+10`)).status, 401)
  const forged = loc.replace(/\+A[0-9a-f]/, (m) => (m.endsWith('0') ? m.slice(0, -1) + '1' : m.slice(0, -1) + '0'))
  assert.is((await requestAgainst(d, 'GET', d.keepUrl + forged)).status, 400)
  assert.is((await requestAgainst(d, 'GET', d.keepUrl + loc, undefined, { token: d.adminToken })).status, 400, 'signed for another token')
})
keep('should refuse a PUT whose body does not match the hash', async ({ d }) => {
  const r = await requestAgainst(d, 'PUT', d.keepUrl + md5(Buffer.from('a')), Buffer.from('b'))
  assert.is(r.status, 400)
  assert.match(r.text, /Hash mismatch/)
})
keep('should store manifests without signatures, return them signed, and compute the PDH', async ({ d }) => {
  const loc = await putBlock(d, Buffer.from('foo'))
  const r = await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: `. ${loc} 0:3:foo\n` } })
  assert.is(r.status, 200, r.text)
  const c = r.json as J
  assert.is(c['portable_data_hash'], '1f4b0bc7583c2a7f9102c395f4ffc5e3+45')
  assert.match(c['manifest_text'] as string, /acbd18db4cc2f85cedef654fccc4a4d8\+3\+A[0-9a-f]{40}@[0-9a-f]{8} 0:3:foo/)
  assert.is(d.cluster.collections.get(c['uuid'] as string)?.['manifest_text'], '. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n')
  assert.is(c['file_count'], 1)
  assert.is(c['file_size_total'], 3)
})
keep('should answer a get by PDH with the PDH as uuid and a signed manifest', async ({ d }) => {
  const loc = await putBlock(d, Buffer.from('bar'))
  await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: `. ${loc} 0:3:bar\n`, name: 'by-pdh' } })
  const pdh = Manifest.portableDataHash(`. ${loc} 0:3:bar\n`)
  const r = (await requestAgainst(d, 'GET', `collections/${pdh}`)).json as J
  assert.is(r['uuid'], pdh)
  assert.is(r['name'], '')
  assert.match(r['manifest_text'] as string, /\+A[0-9a-f]{40}@/)
})
keep('should reject unsigned locators for a user with 403 but accept them for an admin', async ({ d }) => {
  const text = '. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n'
  const u = await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: text } })
  assert.is(u.status, 403)
  assert.match((u.json as { errors: Array<string> }).errors[0] as string, /unsigned locator acbd18db4cc2f85cedef654fccc4a4d8\+3/)
  const a = await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: text } }, { token: d.adminToken })
  assert.is(a.status, 200)
})
keep('should reject a portable_data_hash that does not match and an invalid manifest', async ({ d }) => {
  const a = await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: '', portable_data_hash: '00000000000000000000000000000000+0' } })
  assert.is(a.status, 422)
  assert.match((a.json as { errors: Array<string> }).errors[0] as string, /does not match computed hash d41d8cd98f00b204e9800998ecf8427e\+0/)
  const b = await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: '. d41d8cd98f00b204e9800998ecf8427e+0 0:0:foo' } })
  assert.is(b.status, 422)
  assert.match((b.json as { errors: Array<string> }).errors[0] as string, /must end with a newline/)
})

const keepMany = withDouble('several Keep services', { keepServices: 3 })
keepMany('should list every service and keep blocks only where they were PUT', async ({ d }) => {
  const r = (await requestAgainst(d, 'GET', 'keep_services/accessible', undefined, { token: null })).json as { items: Array<J> }
  assert.equal(r.items.map((x) => x['uuid']).sort(), ['zzzzz-bi6l4-000000000000001', 'zzzzz-bi6l4-000000000000002', 'zzzzz-bi6l4-000000000000003'])
  assert.is(d.keepUrls.length, 3)
  const data = Buffer.from('only on two')
  const put = await requestAgainst(d, 'PUT', (d.keepUrls[1] as string) + md5(data), data)
  const loc = put.text.trim()
  assert.is((await requestAgainst(d, 'GET', (d.keepUrls[1] as string) + loc)).status, 200)
  assert.is((await requestAgainst(d, 'GET', (d.keepUrls[0] as string) + loc)).status, 404)
  assert.is(d.keepRequests.at(-1)?.service, 'zzzzz-bi6l4-000000000000001')
})
keepMany('should serve a corrupted copy after corruptBlock', async ({ d }) => {
  const data = Buffer.from('soon corrupt')
  const loc = (await requestAgainst(d, 'PUT', d.keepUrl + md5(data), data)).text.trim()
  d.corruptBlock(md5(data))
  const got = await requestAgainst(d, 'GET', d.keepUrl + loc)
  assert.is(got.status, 200)
  assert.is.not(got.text, 'soon corrupt')
  assert.is(got.text.length, data.length)
})

// ------------------------------------------------------------------ containers
const containers = withDouble('container lifecycle with real mounts')
containers('should run the command with a json mount, save the output and stdout.txt', async ({ d }) => {
  const loc = await putBlock(d, Buffer.from('input data\n'))
  const input = (await requestAgainst(d, 'POST', 'collections', { collection: { manifest_text: `. ${loc} 0:11:in.txt\n` } })).json as J
  const pdh = input['portable_data_hash'] as string
  const r = await requestAgainst(d, 'POST', 'container_requests', {
    container_request: crBody({
      command: ['sh', '-c', `cat /etc/call.json; cat /etc/call.json > /out/echo.json; cp /keep/${pdh}/in.txt /out/copied.txt; touch /keep/${pdh}/x 2>/dev/null || echo read-only >&2`],
      mounts: { '/out': { kind: 'tmp', capacity: 1 << 20 }, '/etc/call.json': { kind: 'json', content: { z: 1, a: 'b' } }, [`/keep/${pdh}`]: { kind: 'collection', portable_data_hash: pdh } },
      name: 'lifecycle',
    }),
  })
  assert.is(r.status, 200, r.text)
  const [cr] = await d.waitFinal([(r.json as J)['uuid'] as string])
  assert.is(cr?.['state'], 'Final')
  const c = (await requestAgainst(d, 'GET', `containers/${cr?.['container_uuid'] as string}`)).json as J
  assert.is(c['state'], 'Complete')
  assert.is(c['exit_code'], 0)
  const out = (await requestAgainst(d, 'GET', `collections/${cr?.['output_uuid'] as string}`)).json as J
  assert.is(out['portable_data_hash'], c['output'])
  assert.is(out['name'], `Container output for request ${cr?.['uuid'] as string}`)
  assert.equal(out['properties'], { container_request: cr?.['uuid'], type: 'output' })
  assert.is(fileOf(d, out['uuid'] as string, 'echo.json'), '{"a":"b","z":1}')
  assert.is(fileOf(d, out['uuid'] as string, 'copied.txt'), 'input data\n')
  const stdout = fileOf(d, cr?.['log_uuid'] as string, 'stdout.txt') ?? ''
  assert.match(stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \{"a":"b","z":1\}$/m)
  assert.match(fileOf(d, cr?.['log_uuid'] as string, 'stderr.txt') ?? '', / read-only$/m)
  assert.ok(fileOf(d, cr?.['log_uuid'] as string, `log for container ${c['uuid'] as string}/stdout.txt`) !== undefined)
})
containers('should give ARVADOS_* variables and a working containers/current only when API is true', async ({ d }) => {
  const script = `node -e "const h=process.env.ARVADOS_API_HOST; if(!h){console.log('no-api');process.exit(0)}; const https=require('https'); https.get({host:h.split(':')[0],port:h.split(':')[1],path:'/arvados/v1/containers/current',ca:require('fs').readFileSync('/etc/arvados/ca-certificates.crt'),headers:{Authorization:'Bearer '+process.env.ARVADOS_API_TOKEN}},r=>{let b='';r.on('data',c=>b+=c);r.on('end',()=>console.log(r.statusCode, JSON.parse(b).uuid))})"`
  const mk = async (api: boolean): Promise<J> => {
    const r = await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ command: ['sh', '-c', script], runtime_constraints: { vcpus: 1, ram: 1 << 26, API: api } }) })
    assert.is(r.status, 200, r.text)
    const [cr] = await d.waitFinal([(r.json as J)['uuid'] as string])
    return cr as J
  }
  const withApi = await mk(true)
  assert.match(fileOf(d, withApi['log_uuid'] as string, 'stdout.txt') ?? '', new RegExp(`Z 200 ${withApi['container_uuid'] as string}$`, 'm'))
  const without = await mk(false)
  assert.match(fileOf(d, without['log_uuid'] as string, 'stdout.txt') ?? '', /Z no-api$/m)
})
containers('should reuse a finished identical container and answer Final at once', async ({ d }) => {
  const body = crBody({ command: ['sh', '-c', 'echo reuse > /out/r.txt'] })
  const first = (await requestAgainst(d, 'POST', 'container_requests', { container_request: body })).json as J
  const [done] = await d.waitFinal([first['uuid'] as string])
  const started = d.counters.containersStarted
  const second = (await requestAgainst(d, 'POST', 'container_requests', { container_request: body })).json as J
  assert.is(second['state'], 'Final')
  assert.is(second['container_uuid'], done?.['container_uuid'])
  assert.ok(typeof second['output_uuid'] === 'string')
  assert.is(d.counters.containersStarted, started)
  const fresh = (await requestAgainst(d, 'POST', 'container_requests', { container_request: { ...body, use_existing: false } })).json as J
  assert.is(fresh['state'], 'Committed')
  assert.is.not(fresh['container_uuid'], done?.['container_uuid'])
})
containers('should kill the process on priority 0 and end Cancelled with exit code 137', async ({ d }) => {
  const r = (await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ command: ['sh', '-c', 'echo started; sleep 60; echo finished'] }) })).json as J
  // killed once its command runs (it printed "started"), not while its mounts are being set up:
  // a container cancelled during setup ends without an exit code, as on Arvados
  const live = `container_requests/${r['uuid'] as string}/log/${r['container_uuid'] as string}/stdout.txt`
  for (let i = 0; i < 1500 && !/started/.test((await requestAgainst(d, 'GET', live)).text); i++) await new Promise((x) => setTimeout(x, 20))
  const u = await requestAgainst(d, 'PUT', `container_requests/${r['uuid'] as string}`, { container_request: { priority: 0 } })
  assert.is(u.status, 200, u.text)
  const [cr] = await d.waitFinal([r['uuid'] as string], 20_000)
  assert.is(cr?.['state'], 'Final')
  const c = (await requestAgainst(d, 'GET', `containers/${cr?.['container_uuid'] as string}`)).json as J
  assert.is(c['state'], 'Cancelled')
  assert.is(c['exit_code'], 137)
  assert.is(cr?.['output_uuid'], null)
  assert.not.match(fileOf(d, cr?.['log_uuid'] as string, 'stdout.txt') ?? '', /finished/)
})
containers('should keep a Queued container on hold when its only request goes to priority 0', async ({ d }) => {
  const r = (await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ priority: 0 }) })).json as J
  await new Promise((x) => setTimeout(x, 100))
  const c = (await requestAgainst(d, 'GET', `containers/${r['container_uuid'] as string}`)).json as J
  assert.is(c['state'], 'Queued')
  assert.is(c['priority'], 0)
  const cr = (await requestAgainst(d, 'GET', `container_requests/${r['uuid'] as string}`)).json as J
  assert.is(cr['state'], 'Committed')
  assert.is(cr['priority'], 0)
})
containers('should record a non-zero exit code as Complete with an output collection', async ({ d }) => {
  const r = (await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ command: ['sh', '-c', 'echo partial > /out/p.txt; exit 3'] }) })).json as J
  const [cr] = await d.waitFinal([r['uuid'] as string])
  const c = (await requestAgainst(d, 'GET', `containers/${cr?.['container_uuid'] as string}`)).json as J
  assert.is(c['state'], 'Complete')
  assert.is(c['exit_code'], 3)
  assert.is(fileOf(d, cr?.['output_uuid'] as string, 'p.txt'), 'partial\n')
})

// ------------------------------------------------------------------ faults
const faults = withDouble('fault injection', { seed: 7 })
faults('should answer the configured share of requests with 500/503 and apply none of them', async ({ d }) => {
  d.setFaults({ errorRate: 1, errorStatuses: [503] })
  const r = await requestAgainst(d, 'POST', 'collections', { collection: { name: 'never' } })
  assert.is(r.status, 503)
  assert.ok(Array.isArray((r.json as J)['errors']))
  d.setFaults({ errorRate: 0 })
  const l = (await requestAgainst(d, 'GET', `collections?filters=${encodeURIComponent(JSON.stringify([['name', '=', 'never']]))}`)).json as J
  assert.is(l['items_available'], 0)
})
faults('should reset connections without applying, or apply then reset', async ({ d }) => {
  d.setFaults({ resetRate: 1 })
  assert.match(await rejects(() => requestAgainst(d, 'POST', 'collections', { collection: { name: 'reset' } })), /socket hang up|ECONNRESET/)
  d.setFaults({ resetRate: 0, resetAfterCommitRate: 1 })
  assert.match(await rejects(() => requestAgainst(d, 'POST', 'collections', { collection: { name: 'applied' } })), /socket hang up|ECONNRESET/)
  d.setFaults({ resetAfterCommitRate: 0 })
  const names = ((await requestAgainst(d, 'GET', 'collections')).json as { items: Array<J> }).items.map((x) => x['name'])
  assert.ok(names.includes('applied'))
  assert.not.ok(names.includes('reset'))
  assert.equal(d.requests.slice(-3).map((x) => x.outcome), ['reset', 'applied-then-reset', 200])
})
faults('should make the same decisions for the same seed', async () => {
  const outcomes = async (): Promise<Array<number>> => {
    const d = await startDouble({ seed: 42, faults: { errorRate: 0.5 } })
    const got: Array<number> = []
    for (let i = 0; i < 12; i++) got.push((await requestAgainst(d, 'GET', 'users/current')).status)
    await d.stop()
    return got
  }
  const a = await outcomes()
  assert.equal(a, await outcomes())
  assert.ok(a.includes(200) && a.some((s) => s >= 500), a.join(','))
})
faults('should fail containers on request: exit code, or cancellation followed by a retry', async ({ d }) => {
  d.setFaults({ failContainers: (cr, _c, attempt) => (cr['name'] === 'exit' ? { exitCode: 9 } : cr['name'] === 'flaky' && attempt === 1 ? { cancel: true } : undefined) })
  const a = (await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ name: 'exit' }) })).json as J
  const b = (await requestAgainst(d, 'POST', 'container_requests', { container_request: crBody({ name: 'flaky', command: ['sh', '-c', 'echo ok > /out/ok'] }) })).json as J
  const [ca, cb] = await d.waitFinal([a['uuid'] as string, b['uuid'] as string])
  assert.is(d.cluster.containers.get(ca?.['container_uuid'] as string)?.['exit_code'], 9)
  assert.is(cb?.['container_count'], 2)
  assert.is.not(cb?.['container_uuid'], b['container_uuid'])
  assert.is(fileOf(d, cb?.['output_uuid'] as string, 'ok'), 'ok\n')
  assert.ok(fileOf(d, cb?.['log_uuid'] as string, `log for container ${cb?.['container_uuid'] as string}/stdout.txt`) !== undefined)
})
faults('should hold a slow answer back while a later request is answered', async ({ d }) => {
  d.setFaults({ delayMs: 2000, failContainers: undefined })
  const order: Array<string> = []
  const slow = requestAgainst(d, 'GET', 'users/current').then(() => order.push('slow'))
  await new Promise((x) => setTimeout(x, 50))
  d.setFaults({ delayMs: 0 })
  await requestAgainst(d, 'GET', 'users/current').then(() => order.push('fast'))
  await slow
  assert.equal(order, ['fast', 'slow'])
})

errors.run()
validation.run()
listing.run()
indexed.run()
keep.run()
keepMany.run()
containers.run()
faults.run()
