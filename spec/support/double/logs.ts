/**
 * The container request log endpoint of the double:
 * `GET /arvados/v1/container_requests/{uuid}/log/{container_uuid}/{file}` (ARVADOS-FACTS §3,
 * "Live logs"; WebDAV on the real server, with `Range`). While the container runs, the file is
 * read from its live log directory (what crunch-run has written so far); once it has finished,
 * from its log collection. `Range: bytes=N-` / `bytes=N-M` answer 206 with `Content-Range`, a
 * range starting at or past the end 416 (`Content-Range: bytes * /size`), so a client polls with
 * the offset it has read up to.
 *
 * Not faithful: GET/HEAD only (no OPTIONS/PROPFIND directory listings); a container that has not
 * started answers 404.
 */
import * as Cluster from './cluster.js'
import * as Manifest from './manifest.js'

const PATH = /^\/arvados\/v1\/container_requests\/([a-z0-9]{5}-xvhdp-[a-z0-9]{15})\/log\/([a-z0-9]{5}-dz642-[a-z0-9]{15})\/([^/]+)$/

/** the CR uuid, container uuid and file name when `pathname` is the log endpoint */
export const match = (pathname: string): { readonly cr: string; readonly container: string; readonly file: string } | undefined => {
  const m = PATH.exec(pathname)
  return m === null ? undefined : { cr: m[1]!, container: m[2]!, file: decodeURIComponent(m[3]!) }
}

export interface LogAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

const fromCollection = (cluster: Cluster.Cluster, pdh: unknown, file: string): Buffer | undefined => {
  if (typeof pdh !== 'string') return undefined
  const coll = cluster.collectionByPdh(pdh)
  if (coll === undefined) return undefined
  const entry = Manifest.files(coll['manifest_text'] as string).files.find((f) => f.path === file)
  return entry === undefined ? undefined : cluster.readFile(entry)
}

/**
 * Answers one request of the endpoint (errors are thrown as `ApiError`s, as elsewhere).
 */
export const serve = (
  cluster: Cluster.Cluster,
  liveLog: (containerUuid: string, file: string) => Buffer | undefined,
  caller: Cluster.Caller,
  at: { readonly cr: string; readonly container: string; readonly file: string },
  range: string | undefined,
): LogAnswer => {
  const cr = cluster.findCr(at.cr, caller)
  const c = cluster.findContainer(at.container, caller)
  if (cr['container_uuid'] !== at.container && !cluster.readableContainer(c, caller)) throw Cluster.apiError(404, 'Not Found')
  const data = (c['state'] === 'Running' ? liveLog(at.container, at.file) : undefined) ?? fromCollection(cluster, c['log'], at.file)
  if (data === undefined) throw Cluster.apiError(404, `${at.file} not found in the log of ${at.container}`)
  const base = { 'Content-Type': 'text/plain; charset=utf-8', 'Accept-Ranges': 'bytes' }
  const r = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range.trim())
  if (r === null) return { status: 200, headers: { ...base, 'Content-Length': String(data.length) }, body: data }
  const start = Number(r[1])
  const end = r[2] === '' ? data.length - 1 : Math.min(Number(r[2]), data.length - 1)
  if (start >= data.length || end < start) return { status: 416, headers: { ...base, 'Content-Range': `bytes */${data.length}`, 'Content-Length': '0' }, body: Buffer.alloc(0) }
  const body = data.subarray(start, end + 1)
  return { status: 206, headers: { ...base, 'Content-Range': `bytes ${start}-${end}/${data.length}`, 'Content-Length': String(body.length) }, body }
}
