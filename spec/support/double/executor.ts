/**
 * Runs the double's containers as real child processes (ARVADOS-FACTS §6, §7), the way crunch-run
 * would but without an image: each container gets a private mount namespace (`unshare --mount`) whose
 * root is a fresh tmpfs populated with bind mounts of the host's top-level entries; every directory on
 * the way to a mount target is itself a tmpfs re-populated with binds of the host's entries, so mount
 * points are made inside the namespace and the host is never touched. Then:
 *  - `tmp` mounts are empty directories, `collection` mounts directories materialized from the Keep
 *    store (read-only unless writable), `json`/`text` mounts read-only files (compact key-sorted JSON);
 *  - the command runs chrooted into that root, with `cwd`, exactly the container `environment` plus a
 *    default PATH (the "image" PATH, which includes node's directory), plus `ARVADOS_API_*` only when
 *    `runtime_constraints.API` is true (and the CA bundle at /etc/arvados/ca-certificates.crt);
 *  - stdout/stderr go to `stdout.txt`/`stderr.txt` in the log collection with timestamps (or raw to a
 *    `file` mount under the output path);
 *  - the output directory becomes the output collection, `exit_code` is recorded; a kill for
 *    cancellation records 137 and ends Cancelled.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as Cluster from './cluster.js'
import * as Crunchstat from './crunchstat.js'
import * as Manifest from './manifest.js'
import type { Rec } from './cluster.js'

export interface ExecutorOptions {
  readonly cluster: Cluster.Cluster
  readonly dir: string
  readonly apiHost: string
  readonly keepUrl: string
  readonly ca: string
  readonly caPath: string
  /** Value of ARVADOS_API_HOST_INSECURE given to API containers (default ''). */
  readonly apiHostInsecure?: string
}

const TOOLS = ['unshare', 'mount', 'chroot', 'mkdir', 'ln', 'touch', 'sh'] as const

const which = (tool: string): string | undefined => {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const p = Path.join(dir, tool)
    try {
      Fs.accessSync(p, Fs.constants.X_OK)
      return p
    } catch {
      // next
    }
  }
  return undefined
}

/** What prevents running containers on this machine, or undefined. */
export const isolationProblem = (): string | undefined => {
  const missing = TOOLS.filter((t) => which(t) === undefined)
  const problems: Array<string> = []
  if (missing.length > 0) problems.push(`missing commands: ${missing.join(', ')} (install util-linux and coreutils)`)
  if (typeof process.getuid === 'function' && process.getuid() !== 0) problems.push(`the double must run as root to make mount namespaces and bind mounts (uid is ${process.getuid()})`)
  if (problems.length === 0) {
    const unshare = which('unshare') as string
    const r = ChildProcess.spawnSync(unshare, ['--mount', '--propagation', 'private', which('mount') as string, '-t', 'tmpfs', 'tmpfs', '/mnt'], { encoding: 'utf8' })
    if (r.status !== 0) problems.push(`'unshare --mount' followed by a tmpfs mount failed (exit ${String(r.status)}): ${(r.stderr || r.error?.message || '').trim()}`)
  }
  return problems.length === 0 ? undefined : `Arvados double cannot run containers: ${problems.join('; ')}`
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

const canonicalJson = (v: unknown): string => Cluster.canonicalJson(v)

const stamp = (): string => {
  const d = new Date()
  return d.toISOString().slice(0, 19) + '.' + String(d.getMilliseconds()).padStart(3, '0') + '000000Z'
}

/** Splits a stream into lines and prefixes each with a timestamp, as crunch-run's log writer does. */
const timestamper = (out: Fs.WriteStream): { write: (b: Buffer) => void; end: () => Promise<void> } => {
  let partial = ''
  return {
    write: (b) => {
      const text = partial + b.toString('utf8')
      const lines = text.split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) out.write(`${stamp()} ${l}\n`)
    },
    end: () =>
      new Promise((resolve) => {
        if (partial !== '') out.write(`${stamp()} ${partial}\n`)
        out.end(() => resolve())
      }),
  }
}

/** Converts an output_glob pattern to a RegExp over relative paths. */
const globToRegExp = (pattern: string): RegExp => {
  let p = pattern.replace(/^\/+/, '')
  let re = ''
  if (p.startsWith('**/')) {
    re += '(?:.*/)?'
    p = p.slice(3)
  }
  for (let i = 0; i < p.length; i++) {
    const c = p[i] as string
    if (p.startsWith('/**/', i)) {
      re += '/(?:.*/)?'
      i += 3
    } else if (p.startsWith('/**', i) && i + 3 === p.length) {
      re += '(?:/.*)?'
      i += 2
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const end = p.indexOf(']', i + 1)
      if (end < 0) re += '\\['
      else {
        const body = p.slice(i + 1, end).replace(/^[!^]/, '^')
        re += `[${body.replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

interface Running {
  child: ChildProcess.ChildProcess | undefined
  killed: boolean
}

const killGroup = (child: ChildProcess.ChildProcess | undefined): void => {
  try {
    if (child?.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
  } catch {
    // the group is already gone
  }
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 }

/** Makes the executor the cluster calls to start and kill containers. */
export const makeExecutor = (opts: ExecutorOptions): Cluster.Executor & { readonly stopAll: () => Promise<void>; readonly liveLog: (containerUuid: string, file: string) => Buffer | undefined } => {
  const cluster = opts.cluster
  const running = new Map<string, Running>()
  const pending = new Set<Promise<void>>()
  let problem: string | undefined | null = null
  const nodeDir = Path.dirname(process.execPath)
  const defaultPath = `${nodeDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`

  const materialize = (pdh: string, subpath: string, into: string): 'dir' | 'file' => {
    const coll = cluster.collectionByPdh(pdh)
    if (coll === undefined) throw new Error(`collection ${pdh} not found`)
    const { files, dirs } = Manifest.files(coll['manifest_text'] as string)
    const sub = subpath.replace(/^\/+|\/+$/g, '')
    const single = sub === '' ? undefined : files.find((f) => f.path === sub)
    if (single !== undefined) {
      Fs.writeFileSync(into, cluster.readFile(single))
      return 'file'
    }
    Fs.mkdirSync(into, { recursive: true })
    const prefix = sub === '' ? '' : sub + '/'
    for (const d of dirs) if (d.startsWith(prefix) || sub === '') Fs.mkdirSync(Path.join(into, d.slice(prefix.length)), { recursive: true })
    for (const f of files) {
      if (prefix !== '' && !f.path.startsWith(prefix)) continue
      const rel = f.path.slice(prefix.length)
      if (rel.split('/').some((p) => p === '..' || p === '')) throw new Error(`unsafe file name ${JSON.stringify(f.path)} in ${pdh}`)
      const target = Path.join(into, rel)
      Fs.mkdirSync(Path.dirname(target), { recursive: true })
      Fs.writeFileSync(target, cluster.readFile(f))
    }
    return 'dir'
  }

  /** Shell lines that populate `newDir` (a fresh tmpfs) with binds of `hostDir`'s entries, except those in `skip`. */
  const populate = (tools: Record<string, string>, hostDir: string | undefined, newDir: string, skip: ReadonlySet<string>): Array<string> => {
    if (hostDir === undefined) return []
    let entries: Array<Fs.Dirent>
    try {
      entries = Fs.readdirSync(hostDir, { withFileTypes: true })
    } catch {
      return []
    }
    const lines: Array<string> = []
    for (const e of entries) {
      if (skip.has(e.name)) continue
      const src = Path.join(hostDir, e.name)
      const dst = Path.join(newDir, e.name)
      if (e.isSymbolicLink()) lines.push(`${tools['ln']} -s ${q(Fs.readlinkSync(src))} ${q(dst)}`)
      else if (e.isDirectory()) lines.push(`${tools['mkdir']} ${q(dst)}`, `${tools['mount']} --rbind ${q(src)} ${q(dst)}`)
      else lines.push(`${tools['touch']} ${q(dst)}`, `${tools['mount']} --bind ${q(src)} ${q(dst)} || true`)
    }
    return lines
  }

  const run = async (c: Rec, token: string): Promise<void> => {
    const uuid = c['uuid'] as string
    const entry: Running = { child: undefined, killed: false }
    running.set(uuid, entry)
    const stage = Path.join(opts.dir, uuid)
    const src = Path.join(stage, 'src')
    const root = Path.join(stage, 'root')
    const logDir = Path.join(stage, 'log')
    Fs.mkdirSync(src, { recursive: true })
    Fs.mkdirSync(root, { recursive: true })
    Fs.mkdirSync(logDir, { recursive: true })
    const crunchLog = Fs.createWriteStream(Path.join(logDir, 'crunch-run.txt'))
    const say = (s: string): void => void crunchLog.write(`${stamp()} ${s}\n`)
    const mounts = (c['mounts'] as Record<string, Rec>) ?? {}
    const outputPath = c['output_path'] as string
    const rc = c['runtime_constraints'] as Rec
    say(`double: container ${uuid} (image ${String(c['container_image'])} is not used: commands run on the host's files)`)

    const cancelSetup = async (message: string): Promise<void> => {
      say(`error: ${message}`)
      await new Promise<void>((r) => crunchLog.end(() => r()))
      const log = saveLog(uuid, logDir)
      cluster.finishContainer(uuid, { state: 'Cancelled', log, runtime_status: { error: message } })
      Fs.rmSync(stage, { recursive: true, force: true })
    }

    if (problem === null) problem = isolationProblem()
    if (problem !== undefined) {
      process.stderr.write(problem + '\n')
      return cancelSetup(problem)
    }
    const tools = Object.fromEntries(TOOLS.map((t) => [t, which(t) as string])) as Record<string, string>

    // ---- sources for each mount
    interface Bind { readonly target: string; readonly source: string; readonly kind: 'dir' | 'file'; readonly readOnly: boolean }
    const binds: Array<Bind> = []
    let outDir: string | undefined
    let stdinData: Buffer | undefined
    try {
      // secret_mounts (json/text only) are files like the others, never part of the output
      const withSecrets: Record<string, Rec> = { ...mounts, ...((c['secret_mounts'] as Record<string, Rec> | undefined) ?? {}) }
      const targets = Object.keys(withSecrets).sort((a, b) => a.length - b.length)
      for (const [i, target] of targets.entries()) {
        const m = withSecrets[target] as Rec
        const s = Path.join(src, `m${i}`)
        if (target === 'stdin') {
          if (m['kind'] === 'json') stdinData = Buffer.from(canonicalJson(m['content']))
          else if (m['kind'] === 'collection') {
            materialize(m['portable_data_hash'] as string, String(m['path'] ?? ''), s)
            stdinData = Fs.readFileSync(s)
          }
          continue
        }
        if (target === 'stdout' || target === 'stderr' || !target.startsWith('/')) continue
        switch (m['kind']) {
          case 'tmp':
            Fs.mkdirSync(s)
            binds.push({ target, source: s, kind: 'dir', readOnly: false })
            break
          case 'collection': {
            const pdh = m['portable_data_hash']
            const kind = typeof pdh === 'string' && pdh !== '' ? materialize(pdh, String(m['path'] ?? ''), s) : (Fs.mkdirSync(s), 'dir' as const)
            binds.push({ target, source: s, kind, readOnly: m['writable'] !== true })
            break
          }
          case 'json':
            Fs.writeFileSync(s, canonicalJson(m['content']))
            binds.push({ target, source: s, kind: 'file', readOnly: true })
            break
          case 'text':
            Fs.writeFileSync(s, String(m['content'] ?? ''))
            binds.push({ target, source: s, kind: 'file', readOnly: true })
            break
          default:
            break // keep / file: no bind (crunch-run has no branch for keep)
        }
        if (target === outputPath) outDir = s
      }
      const outBind = binds.find((b) => b.target === outputPath)
      if (outBind === undefined || outBind.readOnly || outBind.kind !== 'dir') throw new Error('output path does not correspond to a writable mount point')
      if (rc['API'] === true && !('/etc/arvados/ca-certificates.crt' in mounts)) {
        const caFile = Path.join(src, 'ca-certificates.crt')
        Fs.writeFileSync(caFile, opts.ca)
        binds.push({ target: '/etc/arvados/ca-certificates.crt', source: caFile, kind: 'file', readOnly: true })
      }
    } catch (e) {
      return cancelSetup(`mount setup failed: ${e instanceof Error ? e.message : String(e)}`)
    }

    // ---- the namespace script: tmpfs root, host entries bound in, spliced paths to each target
    interface Node { children: Map<string, Node>; bind?: Bind }
    const tree: Node = { children: new Map() }
    for (const b of binds) {
      let n = tree
      for (const part of b.target.split('/').filter((p) => p !== '')) {
        const next = n.children.get(part) ?? { children: new Map() }
        n.children.set(part, next)
        n = next
      }
      n.bind = b
    }
    const lines: Array<string> = ['set -e', `${tools['mount']} -t tmpfs -o mode=0755 tmpfs ${q(root)}`]
    const roRemounts: Array<string> = []
    const walk = (n: Node, hostDir: string | undefined, newDir: string): void => {
      lines.push(...populate(tools, hostDir, newDir, new Set(n.children.keys())))
      for (const [name, child] of n.children) {
        const dst = Path.join(newDir, name)
        const hostChild = hostDir === undefined ? undefined : Path.join(hostDir, name)
        if (child.bind !== undefined) {
          const b = child.bind
          lines.push(b.kind === 'dir' ? `${tools['mkdir']} -p ${q(dst)}` : `${tools['touch']} ${q(dst)}`)
          lines.push(`${tools['mount']} --bind ${q(b.source)} ${q(dst)}`)
          if (b.readOnly) roRemounts.push(`${tools['mount']} -o remount,bind,ro ${q(dst)}`)
          // nested targets are created inside the bound source (staging, not the host)
          if (child.children.size > 0) walk({ children: child.children }, undefined, dst)
        } else {
          let isHostDir = false
          try {
            isHostDir = hostChild !== undefined && Fs.lstatSync(hostChild).isDirectory()
          } catch {
            isHostDir = false
          }
          lines.push(`${tools['mkdir']} -p ${q(dst)}`)
          if (isHostDir) lines.push(`${tools['mount']} -t tmpfs -o mode=0755 tmpfs ${q(dst)}`)
          walk(child, isHostDir ? hostChild : undefined, dst)
        }
      }
    }
    walk(tree, '/', root)
    lines.push(...roRemounts)
    const cwd = c['cwd'] === '.' || c['cwd'] === '' ? '/' : (c['cwd'] as string)
    const marker = Path.join(stage, 'setup-done')
    lines.push(`${tools['touch']} ${q(marker)}`)
    lines.push(`exec ${tools['chroot']} ${q(root)} /bin/sh -c 'cd "$1" && shift && exec "$@"' sh ${q(cwd)} ${(c['command'] as Array<string>).map(q).join(' ')}`)
    const scriptPath = Path.join(stage, 'enter.sh')
    Fs.writeFileSync(scriptPath, lines.join('\n') + '\n')

    // ---- environment: exactly the container's, the image PATH, and ARVADOS_* only with API
    const env: Record<string, string> = { PATH: defaultPath, ...(c['environment'] as Record<string, string>) }
    if (rc['API'] === true) Object.assign(env, { ARVADOS_API_HOST: opts.apiHost, ARVADOS_API_TOKEN: token, ARVADOS_API_HOST_INSECURE: opts.apiHostInsecure ?? '', ARVADOS_KEEP_SERVICES: '' })

    // ---- stdout / stderr
    const fileMountPath = (key: 'stdout' | 'stderr'): string | undefined => {
      const m = mounts[key]
      if (m === undefined || m['kind'] !== 'file' || typeof m['path'] !== 'string' || outDir === undefined) return undefined
      const rel = Path.posix.relative(outputPath, m['path'])
      if (rel.startsWith('..') || Path.posix.isAbsolute(rel)) return undefined
      const p = Path.join(outDir, rel)
      Fs.mkdirSync(Path.dirname(p), { recursive: true })
      return p
    }
    const sink = (key: 'stdout' | 'stderr'): { write: (b: Buffer) => void; end: () => Promise<void> } => {
      const raw = fileMountPath(key)
      if (raw !== undefined) {
        const ws = Fs.createWriteStream(raw)
        return { write: (b) => void ws.write(b), end: () => new Promise((r) => ws.end(() => r())) }
      }
      return timestamper(Fs.createWriteStream(Path.join(logDir, `${key}.txt`)))
    }
    const out = sink('stdout')
    const err = sink('stderr')
    const scriptErr: Array<Buffer> = []

    if (entry.killed || cluster.containers.get(uuid)?.['state'] !== 'Locked') {
      running.delete(uuid)
      return cancelSetup('cancelled before it started (priority 0)')
    }
    Fs.writeFileSync(Path.join(logDir, 'node.json'), Crunchstat.nodeJson(rc))
    cluster.markRunning(uuid)
    say(`double: running ${JSON.stringify(c['command'])} in ${cwd}`)
    const child = ChildProcess.spawn(tools['unshare'] as string, ['--mount', '--propagation', 'private', tools['sh'] as string, scriptPath], {
      env, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    })
    entry.child = child
    const stats = Crunchstat.sample(child.pid, Path.join(logDir, 'crunchstat.txt'), Number(rc['vcpus'] ?? 1))
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(stdinData)
    child.stdout?.on('data', (b: Buffer) => out.write(b))
    child.stderr?.on('data', (b: Buffer) => {
      if (!Fs.existsSync(marker)) scriptErr.push(b)
      err.write(b)
    })
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('error', (e) => {
        scriptErr.push(Buffer.from(e.message))
        resolve({ code: null, signal: null })
      })
      child.on('close', (code, signal) => resolve({ code, signal }))
    })
    const wasKilled = entry.killed
    await stats.stop()
    killGroup(child)
    await out.end()
    await err.end()
    const setupDone = Fs.existsSync(marker)
    const exitCode = exit.code ?? (exit.signal === null ? 1 : 128 + (SIGNALS[exit.signal] ?? 9))
    say(setupDone ? `double: exit code ${exitCode}${wasKilled ? ' (killed: priority 0)' : ''}` : `error: container setup failed: ${Buffer.concat(scriptErr).toString().trim()}`)

    try {
      if (!setupDone) {
        await new Promise<void>((r) => crunchLog.end(() => r()))
        cluster.finishContainer(uuid, { state: 'Cancelled', log: saveLog(uuid, logDir), runtime_status: { error: `container setup failed: ${Buffer.concat(scriptErr).toString().trim().slice(0, 2000)}` } })
      } else if (wasKilled) {
        await new Promise<void>((r) => crunchLog.end(() => r()))
        cluster.finishContainer(uuid, { state: 'Cancelled', exit_code: 137, log: saveLog(uuid, logDir) })
      } else {
        const current = cluster.containers.get(uuid)
        let output = current?.['output']
        if (!(rc['API'] === true && typeof output === 'string')) output = captureOutput(c, outDir as string, binds, src)
        else say('double: using the output the container set itself')
        await new Promise<void>((r) => crunchLog.end(() => r()))
        cluster.finishContainer(uuid, { state: 'Complete', exit_code: exitCode, output, log: saveLog(uuid, logDir, c) })
      }
    } catch (e) {
      cluster.finishContainer(uuid, { state: 'Cancelled', runtime_status: { error: `output capture failed: ${e instanceof Error ? e.message : Cluster.isApiError(e) ? e.message : String(e)}` } })
    } finally {
      running.delete(uuid)
      Fs.rmSync(stage, { recursive: true, force: true })
    }
  }

  const saveLog = (uuid: string, logDir: string, c?: Rec): string => {
    const entries: Array<Manifest.BuildEntry> = Fs.readdirSync(logDir).map((n) => ({ path: n, data: Fs.readFileSync(Path.join(logDir, n)) }))
    if (c !== undefined) entries.push({ path: 'container.json', data: Buffer.from(JSON.stringify(cluster.renderContainer(cluster.containers.get(uuid) ?? c), null, 2) + '\n') })
    const coll = cluster.createSystemCollection(Manifest.build(entries, cluster.putBlock), `logs for ${uuid}`, true)
    return coll['portable_data_hash'] as string
  }

  /** Walks the output directory (plus json/text/collection mounts under it), applies output_glob, saves the collection. */
  const captureOutput = (c: Rec, outDir: string, binds: ReadonlyArray<{ target: string; source: string; kind: 'dir' | 'file' }>, _src: string): string => {
    const outputPath = (c['output_path'] as string).replace(/\/+$/, '')
    const mounts = c['mounts'] as Record<string, Rec>
    const nested = binds.filter((b) => b.target !== outputPath && b.target.startsWith(outputPath + '/'))
    const nestedRel = new Set(nested.map((b) => b.target.slice(outputPath.length + 1)))
    const entries: Array<Manifest.BuildEntry> = []
    const walkDir = (abs: string, rel: string): void => {
      const list = Fs.readdirSync(abs, { withFileTypes: true })
      if (list.length === 0 && rel !== '') entries.push({ path: rel, dir: true })
      for (const e of list) {
        const r = rel === '' ? e.name : `${rel}/${e.name}`
        if (nestedRel.has(r)) continue
        const p = Path.join(abs, e.name)
        const st = Fs.statSync(p, { throwIfNoEntry: false })
        if (st === undefined) throw new Error(`output ${r} is a symlink to outside the output directory`)
        if (st.isDirectory()) walkDir(p, r)
        else if (st.isFile()) entries.push({ path: r, data: Fs.readFileSync(p) })
      }
    }
    walkDir(outDir, '')
    for (const b of nested) {
      if ((mounts[b.target] as Rec | undefined)?.['exclude_from_output'] === true) continue
      const rel = b.target.slice(outputPath.length + 1)
      if (b.kind === 'file') entries.push({ path: rel, data: Fs.readFileSync(b.source) })
      else walkDir(b.source, rel)
    }
    const globs = (c['output_glob'] as Array<string> | null) ?? []
    const kept = globs.length === 0 ? entries : entries.filter((e) => globs.some((g) => globToRegExp(g).test(e.path)))
    const coll = cluster.createSystemCollection(Manifest.build(kept, cluster.putBlock), `output for ${c['uuid'] as string}`, true)
    return coll['portable_data_hash'] as string
  }

  return {
    liveLog: (uuid, file) => {
      if (!running.has(uuid) || !/^[\w.-]+$/.test(file)) return undefined
      try {
        return Fs.readFileSync(Path.join(opts.dir, uuid, 'log', file))
      } catch {
        return undefined
      }
    },
    start: (c, token) => {
      const uuid = c['uuid'] as string
      const done = run(c, token).catch((e: unknown) => {
        cluster.finishContainer(uuid, { state: 'Cancelled', runtime_status: { error: `double executor failed: ${e instanceof Error ? e.message : String(e)}` } })
      })
      pending.add(done)
      void done.finally(() => pending.delete(done))
    },
    kill: (uuid) => {
      const r = running.get(uuid)
      if (r === undefined) return
      r.killed = true
      killGroup(r.child)
    },
    stopAll: async () => {
      for (const r of running.values()) {
        r.killed = true
        killGroup(r.child)
      }
      await Promise.all([...pending])
    },
  }
}
