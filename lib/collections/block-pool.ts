/**
 * Worker threads that store blocks of files for the local store, so that blocks of different
 * files (or of one large file) are hashed and written in parallel. One job is one block: up to
 * 64 MiB at an offset of a file, read in 4 MiB chunks, each hashed with md5 then written in
 * 64 KiB writes to a unique temporary file under `tmp/`, renamed to `blocks/<md5[0:3]>/<md5>`
 * at the end (the same temp + rename rule as the rest of the store: identical bytes may already
 * be there). The name is the md5 of exactly the bytes written. A job that finds its file
 * shorter than announced (or longer after its last block) answers `Changed` and leaves nothing
 * behind; the caller reads that file again as a stream.
 *
 * A job may also be one block given as bytes (`ctx.output.fromFiles`): copied into a buffer the
 * worker shares with the main thread (no allocation per block), hashed, and appended to the
 * worker's block pack (`block-pack.ts`; opened and closed by the main thread, a new one after a
 * failed write): no file per block.
 *
 * The workers run plain JavaScript evaluated from source (no loader, no file to resolve), are
 * started on first use, one more than the available cores (up to 4: a worker waiting for the
 * disk or a page fault leaves its core to another), each with one job at a time, and are
 * stopped by `close`. An idle worker does not keep the process alive.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as WorkerThreads from 'node:worker_threads'
import * as BlockPack from './block-pack.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One block of a file: `length` bytes at `offset`; `last` when no byte should follow it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Job {
  readonly file: string
  readonly offset: number
  readonly length: number
  readonly last: boolean
}

/**
 * One block given as bytes (at most 64 MiB). They are copied, when a worker takes the job, into
 * a buffer that worker shares with this thread (grown when needed, then reused: no allocation
 * per block), so they must stay as they are until the job settles.
 *
 * @category models
 * @since 0.1.0
 */
export interface BytesJob {
  readonly bytes: Uint8Array
}

/**
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: 'Stored'; readonly hash: string; readonly size: number }
  | { readonly _tag: 'Changed' }
  /** a bytes job's block, appended to the worker's block pack (`block-pack.ts`) */
  | ({ readonly _tag: 'Packed'; readonly hash: string } & BlockPack.Location)

/**
 * @category models
 * @since 0.1.0
 */
export interface Pool {
  /** Stores one block; rejects with the worker's error (its `code` kept, e.g. `ENOENT`). */
  readonly run: (job: Job | BytesJob, signal?: AbortSignal) => Promise<Outcome>
  /** Whether a worker was started. */
  readonly started: () => boolean
  /** Stops every worker; queued jobs reject. */
  readonly close: () => Promise<void>
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const CHUNK = 4 << 20
/**
 * Bytes per write. The kernel sizes page-cache folios by the write: on the development VM,
 * writing 1 GiB into never-used pages costs ~1.3 s of CPU in 64 KiB writes and ~2.5 s in
 * 4 MiB writes (about the same, ~0.3 s, once pages are recycled).
 */
const WRITE = 64 << 10
/** Shared buffers grow by this much. */
const SHARED_STEP = 1 << 20

/** The worker (CommonJS, evaluated): one message in per job, one out with its outcome. */
const SOURCE = `
'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const root = workerData.root
const chunk = workerData.chunk
const buffer = Buffer.allocUnsafe(chunk)
const probe = Buffer.allocUnsafe(1)
const write = workerData.write
const readFull = (fd, buf, length, position) => {
  let got = 0
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got)
    if (n === 0) break
    got += n
  }
  return got
}
const made = new Set()
const publish = (tmp, hex) => {
  const dir = path.join(root, 'blocks', hex.slice(0, 3))
  if (!made.has(dir)) {
    fs.mkdirSync(dir, { recursive: true })
    made.add(dir)
  }
  fs.renameSync(tmp, path.join(dir, hex))
}
// one block given as bytes, in the buffer shared with the main thread: hashed, appended to this
// worker's block pack (created on first use) as a record \`<md5> <size>\\n<bytes>\\n\`, written in
// pieces of 64 KiB at the end this worker tracks (it alone writes the pack)
// (the main thread opens and closes it, and gives a new one after a failed write)
let shared = null
let pack = null
const storeBytes = (job) => {
  if (job.shared !== undefined) shared = job.shared
  if (job.pack !== undefined) pack = { fd: job.pack.fd, file: job.pack.file, end: 0 }
  const bytes = new Uint8Array(shared, 0, job.length)
  const hex = crypto.createHash('md5').update(bytes).digest('hex')
  const at = pack.end
  const head = Buffer.from(hex + ' ' + bytes.length + '\\n', 'latin1')
  try {
    let end = at
    for (let k = 0; k < head.length; ) k += fs.writeSync(pack.fd, head, k, head.length - k, end + k)
    end += head.length
    for (let k = 0; k < bytes.length; ) k += fs.writeSync(pack.fd, bytes, k, Math.min(write, bytes.length - k), end + k)
    end += bytes.length
    while (fs.writeSync(pack.fd, newline, 0, 1, end) !== 1);
    pack.end = end + 1
  } catch (cause) {
    // a torn record ends this pack (readers stop before it): the main thread gives another
    pack = null
    throw cause
  }
  return { _tag: 'Packed', hash: hex, size: bytes.length, file: pack.file, at, offset: at + head.length }
}
const newline = Buffer.from('\\n')
const tmpName = () => path.join(root, 'tmp', 'block-' + workerData.owner + '-' + crypto.randomBytes(12).toString('hex'))
// one block: read in chunks, each hashed then written in pieces of 64 KiB
const store = (job) => {
  const input = fs.openSync(job.file, 'r')
  const tmp = tmpName()
  let out = -1
  try {
    out = fs.openSync(tmp, 'wx')
    const hash = crypto.createHash('md5')
    let done = 0
    while (done < job.length) {
      const want = Math.min(chunk, job.length - done)
      const n = readFull(input, buffer, want, job.offset + done)
      if (n === 0) break
      hash.update(buffer.subarray(0, n))
      for (let at = 0; at < n; ) at += fs.writeSync(out, buffer, at, Math.min(write, n - at))
      done += n
      if (n < want) break
    }
    const changed = done < job.length || (job.last && fs.readSync(input, probe, 0, 1, job.offset + job.length) > 0)
    fs.closeSync(out)
    out = -1
    if (changed) {
      fs.unlinkSync(tmp)
      return { _tag: 'Changed' }
    }
    const hex = hash.digest('hex')
    publish(tmp, hex)
    return { _tag: 'Stored', hash: hex, size: done }
  } catch (cause) {
    if (out >= 0) fs.closeSync(out)
    try { fs.unlinkSync(tmp) } catch {}
    throw cause
  } finally {
    fs.closeSync(input)
  }
}
parentPort.on('message', (job) => {
  let reply
  try {
    reply = job.length !== undefined && job.file === undefined ? storeBytes(job) : store(job)
  } catch (e) {
    reply = { _tag: 'Failed', message: String(e && e.message), code: e && e.code }
  }
  parentPort.postMessage(reply)
})
`

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

interface Task {
  readonly job: Job | BytesJob
  readonly signal: AbortSignal | undefined
  readonly resolve: (o: Outcome) => void
  readonly reject: (e: Error) => void
}

type Reply = Outcome | { readonly _tag: 'Failed'; readonly message: string; readonly code?: string }

const failure = (message: string, code?: string): Error => Object.assign(new Error(message), code === undefined ? {} : { code })

/**
 * A pool of block workers for the store under `root` (which must have a `tmp/` directory);
 * `owner` is the writer tag its temporary names carry (`lib/cache/owner.ts`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (root: string, owner: string, size: number = Math.min(4, Os.availableParallelism() + 1)): Pool => {
  const queue: Array<Task> = []
  const idle: Array<WorkerThreads.Worker> = []
  /** each worker's buffer for bytes jobs */
  const shared = new Map<WorkerThreads.Worker, SharedArrayBuffer>()
  /** each worker's block pack (opened here, so that it is closed whatever happens to the worker) */
  const packs = new Map<WorkerThreads.Worker, { readonly fd: number; readonly file: string }>()
  const closePack = (worker: WorkerThreads.Worker): void => {
    const p = packs.get(worker)
    packs.delete(worker)
    if (p !== undefined) Fs.close(p.fd, () => undefined)
  }
  const running = new Map<WorkerThreads.Worker, Task>()
  let count = 0
  let spawned = false
  let closed = false

  const spawn = (): WorkerThreads.Worker => {
    const worker = new WorkerThreads.Worker(SOURCE, { eval: true, execArgv: [], workerData: { root, owner, chunk: CHUNK, write: WRITE }, stdout: false, stderr: false })
    count++
    spawned = true
    const lost = (e: Error): void => {
      const task = running.get(worker)
      running.delete(worker)
      const at = idle.indexOf(worker)
      if (at >= 0) idle.splice(at, 1)
      shared.delete(worker)
      closePack(worker)
      count--
      task?.reject(e)
      if (!closed) dispatch()
    }
    worker.on('message', (reply: Reply) => {
      const task = running.get(worker)
      running.delete(worker)
      // an idle worker does not keep the process alive (a pool may outlive its uses)
      worker.unref()
      idle.push(worker)
      if (task !== undefined) {
        // a failed append may have left a torn record: that pack is finished
        if (reply._tag === 'Failed' && 'bytes' in task.job) closePack(worker)
        if (reply._tag === 'Failed') task.reject(failure(reply.message, reply.code))
        else task.resolve(reply)
      }
      dispatch()
    })
    worker.on('error', lost)
    worker.on('exit', (code) => {
      if (running.has(worker) || idle.includes(worker)) lost(failure(`a block worker stopped (exit code ${code})`))
    })
    return worker
  }

  const dispatch = (): void => {
    while (queue.length > 0) {
      const worker = idle.pop() ?? (count < size ? spawn() : undefined)
      if (worker === undefined) return
      const task = queue.shift()
      if (task === undefined) {
        idle.push(worker)
        return
      }
      if (task.signal?.aborted === true) {
        idle.push(worker)
        task.reject(failure('aborted'))
        continue
      }
      running.set(worker, task)
      worker.ref()
      if ('bytes' in task.job) {
        const bytes = task.job.bytes
        let buffer = shared.get(worker)
        const grown = buffer === undefined || buffer.byteLength < bytes.length
        if (grown) shared.set(worker, (buffer = new SharedArrayBuffer(Math.ceil(bytes.length / SHARED_STEP) * SHARED_STEP)))
        new Uint8Array(buffer!, 0, bytes.length).set(bytes)
        let pack: { readonly fd: number; readonly file: string } | undefined
        if (!packs.has(worker)) {
          const file = Path.join(root, 'packs', `w-${owner}-${Crypto.randomUUID()}${BlockPack.SUFFIX}`)
          try {
            packs.set(worker, (pack = { fd: Fs.openSync(file, 'wx', 0o600), file }))
          } catch (cause) {
            running.delete(worker)
            worker.unref()
            idle.push(worker)
            task.reject(cause instanceof Error ? cause : failure(String(cause)))
            continue
          }
        }
        worker.postMessage({ length: bytes.length, ...(grown ? { shared: buffer } : {}), ...(pack === undefined ? {} : { pack }) })
      } else worker.postMessage(task.job)
    }
  }

  const run = (job: Job | BytesJob, signal?: AbortSignal): Promise<Outcome> =>
    new Promise<Outcome>((resolve, reject) => {
      if (closed) return reject(failure('the block pool is closed'))
      queue.push({ job, signal, resolve, reject })
      dispatch()
    })

  const close = async (): Promise<void> => {
    closed = true
    for (const task of queue.splice(0)) task.reject(failure('the block pool is closed'))
    const workers = [...idle, ...running.keys()]
    for (const task of running.values()) task.reject(failure('the block pool is closed'))
    running.clear()
    idle.length = 0
    await Promise.all(workers.map((w) => w.terminate()))
    for (const w of [...packs.keys()]) closePack(w)
  }

  return { run, started: () => spawned, close }
}
