/**
 * Code identity: what a work's code *is*, for call ids. An `Identity` is a table over the
 * script's module graph (as the bundler sees it), one entry per node:
 * - a local source file, keyed by its path relative to `base` (`/` separators), with the digest
 *   of its normalized text (comments and whitespace do not count) and the nodes it imports;
 * - a third-party package, keyed `npm:<name>@<version>` (from its package.json), with the
 *   packages it imports; its files are not hashed.
 *
 * The code hash of a work is the digest of every node reachable from the file that defined the
 * work (the file whose code called `work(...)`), with the work's name and its codecs' names.
 * Granularity is the file: editing anything in a reachable file changes the hash; a file the
 * work's file does not import, directly or not, never does.
 *
 * The table is made once per script (`compute.ts`): from the sources under tsx, or read back from
 * the bundle, where it was embedded when the bundle was built. Both give the same table for the
 * same sources, so call ids agree between the laptop, a laptop runner and a submitted runner.
 *
 * No global state: the table travels on the module value (`attach`), and `Graph.recorder` reads
 * it from there (or from its third argument).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Path from 'node:path'
import * as Url from 'node:url'
import type * as Module from '../module.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One node of the module graph.
 *
 * @category models
 * @since 0.1.0
 */
export interface Node {
  /** digest of the file's normalized text; '' for a package (its key holds its version) */
  readonly digest: string
  /** keys of the nodes this one imports, sorted */
  readonly imports: ReadonlyArray<string>
}

/**
 * The serializable table (what a bundle embeds).
 *
 * @category models
 * @since 0.1.0
 */
export interface Table {
  readonly v: 1
  readonly nodes: Readonly<Record<string, Node>>
  /**
   * In a bundle only: where each input's code starts, `[line, key]` sorted by line (key '' for
   * a file outside `nodes`, a package's). Not part of any hash: it tells a work in the bundle
   * its source file from the line that called `work(...)`.
   */
  readonly lines?: ReadonlyArray<readonly [number, string]>
}

/**
 * A table with the directory its keys are relative to, and the code hash of a work.
 *
 * @category models
 * @since 0.1.0
 */
export interface Identity {
  /** absolute directory the keys are relative to: the project root, or the bundle's directory */
  readonly base: string
  readonly table: Table
  /** the bundle file the table was read from, if it was */
  readonly bundle: string | undefined
  /** the key of the source file of a place in the code, when the table has it */
  readonly keyOf: (source: Module.WorkSource) => string | undefined
  /** the sorted keys of every node reachable from `key` (itself included) */
  readonly reach: (key: string) => ReadonlyArray<string>
  /**
   * The code hash of a work under `name`: from its defining file's reach when the table has that
   * file, else undefined (the caller falls back to the function-text hash).
   */
  readonly codeHash: (work: Module.AnyWork, name: string) => string | undefined
}

/**
 * Prefix of package keys.
 *
 * @category constants
 * @since 0.1.0
 */
export const PACKAGE_PREFIX = 'npm:'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * A file path from a stack frame location: a `file:` URL or a plain path.
 *
 * @category utils
 * @since 0.1.0
 */
export const pathOf = (file: string): string => (file.startsWith('file:') ? Url.fileURLToPath(file) : file)

/**
 * The key of `file` relative to `base` (`/` separators).
 *
 * @category utils
 * @since 0.1.0
 */
export const relativeKey = (base: string, file: string): string => Path.relative(base, Path.resolve(base, pathOf(file))).split(Path.sep).join('/')

/**
 * The key whose path, without its leading `../` steps, ends `file` — the only one. A stack
 * mapped through a bundle's source map (a caller's own `--enable-source-maps` frames) resolves a
 * source above the root of the file system to a shorter path (`/bundle/../../../../tmp/p/a.ts`
 * is `/tmp/p/a.ts`), so the exact relative key can be lost.
 */
const bySuffix = (table: Table, file: string): string | undefined => {
  const path = file.split(Path.sep).join('/')
  let found: string | undefined
  let length = 0
  for (const k of Object.keys(table.nodes)) {
    if (k.startsWith(PACKAGE_PREFIX)) continue
    const tail = k.replace(/^(\.\.\/)+/, '')
    if (!path.endsWith(`/${tail}`)) continue
    if (tail.length > length) {
      found = k
      length = tail.length
    } else if (tail.length === length) found = undefined
  }
  return found
}

const codecNames = (work: Module.AnyWork): string =>
  `${(work.spec.args as ReadonlyArray<{ readonly name: string }>).map((c) => c.name).join('\0')}\0\0${(work.spec.returns as { readonly name: string }).name}`

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * An identity over `table` whose keys are relative to `base`. Reach digests are memoized inside
 * the value (one per file), so recorders made per call stay cheap.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (base: string, table: Table, bundle?: string): Identity => {
  const reaches = new Map<string, ReadonlyArray<string>>()
  const digests = new Map<string, string>()
  const hashes = new Map<string, Map<Module.AnyWork, string | undefined>>()
  const keys = new Map<string, string | undefined>()
  const reach = (key: string): ReadonlyArray<string> => {
    let r = reaches.get(key)
    if (r === undefined) {
      const seen = new Set<string>()
      const stack = [key]
      while (stack.length > 0) {
        const k = stack.pop()!
        if (seen.has(k)) continue
        seen.add(k)
        for (const i of table.nodes[k]?.imports ?? []) if (!seen.has(i)) stack.push(i)
      }
      r = Object.freeze([...seen].sort())
      reaches.set(key, r)
    }
    return r
  }
  const reachDigest = (key: string): string => {
    let d = digests.get(key)
    if (d === undefined) {
      const h = Crypto.createHash('sha256').update('crunch-code/1')
      for (const k of reach(key)) h.update(`\0${k}\0${table.nodes[k]?.digest ?? 'missing'}`)
      d = h.digest('hex')
      digests.set(key, d)
    }
    return d
  }
  const inBundle = (source: Module.WorkSource): string | undefined => {
    const lines = table.lines
    if (bundle === undefined || lines === undefined || Path.resolve(pathOf(source.file)) !== bundle) return undefined
    // the last input that starts at or before the line
    let lo = 0
    let hi = lines.length - 1
    let found: string | undefined
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (lines[mid]![0] <= source.line) {
        found = lines[mid]![1]
        lo = mid + 1
      } else hi = mid - 1
    }
    return found === '' ? undefined : found
  }
  const keyOf = (source: Module.WorkSource): string | undefined => {
    const memo = `${source.file}:${source.line}`
    if (keys.has(memo)) return keys.get(memo)
    const k = relativeKey(base, source.file)
    const found = table.nodes[k] !== undefined ? k : (inBundle(source) ?? bySuffix(table, pathOf(source.file)))
    keys.set(memo, found)
    return found
  }
  const codeHash = (work: Module.AnyWork, name: string): string | undefined => {
    let byWork = hashes.get(name)
    if (byWork === undefined) hashes.set(name, (byWork = new Map()))
    if (byWork.has(work)) return byWork.get(work)
    const key = work.source === undefined ? undefined : keyOf(work.source)
    const hash = key === undefined ? undefined : Crypto.hash('sha256', `${reachDigest(key)}\0${name}\0${codecNames(work)}`, 'hex').slice(0, 32)
    byWork.set(work, hash)
    return hash
  }
  return Object.freeze({ base, table, bundle, keyOf, reach, codeHash })
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * The module with `identity` on it: every recorder made for it (by any interpreter) takes
 * code hashes from the identity. The module is otherwise the same value.
 *
 * @category combinators
 * @since 0.1.0
 */
export const attach = <M extends Module.AnyModule>(module: M, identity: Identity): M => Object.freeze({ ...module, identity })

/**
 * The files (keys) whose entries differ between two tables within what `key` reaches in either:
 * what changed in a work's code, for explaining a miss.
 *
 * @category combinators
 * @since 0.1.0
 */
export const changed = (before: Identity, after: Identity, key: string): ReadonlyArray<string> => {
  const all = new Set([...before.reach(key), ...after.reach(key)])
  const out: Array<string> = []
  for (const k of [...all].sort()) {
    const a = before.table.nodes[k]
    const b = after.table.nodes[k]
    if (a === undefined || b === undefined || a.digest !== b.digest || a.imports.join('\0') !== b.imports.join('\0')) out.push(k)
  }
  return out
}

/**
 * The table with the line index of a bundle: esbuild starts each input's code in a bundle with a
 * `// <path>` comment line (paths relative to the root, as the metafile's inputs); `inputs` are
 * the bundle's metafile inputs, so only those lines count.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withLines = (table: Table, bundleText: string, inputs: ReadonlySet<string>): Table => {
  const lines: Array<readonly [number, string]> = []
  let line = 1
  for (let at = 0; at < bundleText.length; ) {
    const end = bundleText.indexOf('\n', at)
    const stop = end < 0 ? bundleText.length : end
    if (bundleText.startsWith('// ', at)) {
      const path = bundleText.slice(at + 3, stop)
      if (inputs.has(path)) lines.push([line, table.nodes[path] !== undefined && !path.startsWith(PACKAGE_PREFIX) ? path : ''])
    }
    at = stop + 1
    line++
  }
  return { ...table, lines }
}

// -------------------------------------------------------------------------------------
// serialization
// -------------------------------------------------------------------------------------

/** the line a bundle carries its table on (before its source map comment) */
const MARKER = '//# arvados-crunch-identity='

/**
 * The comment line that embeds `table` in a bundle (base64 JSON, so no line terminator can end
 * it early).
 *
 * @category destructors
 * @since 0.1.0
 */
export const toComment = (table: Table): string => `${MARKER}${Buffer.from(JSON.stringify(table)).toString('base64')}`

/**
 * The table embedded in a bundle's text, if any.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromBundleText = (text: string): Table | undefined => {
  const at = text.lastIndexOf(`\n${MARKER}`)
  if (at < 0) return undefined
  const start = at + 1 + MARKER.length
  const end = text.indexOf('\n', start)
  try {
    const parsed = JSON.parse(Buffer.from(text.slice(start, end < 0 ? undefined : end), 'base64').toString('utf8')) as Table
    return parsed.v === 1 && typeof parsed.nodes === 'object' && parsed.nodes !== null ? parsed : undefined
  } catch {
    return undefined
  }
}

/**
 * Inserts the table's comment into a bundle's text: before its trailing source map comment (so
 * the mappings of the code above stay as they are), else at the end.
 *
 * @category combinators
 * @since 0.1.0
 */
export const embed = (bundle: string, table: Table): string => {
  const line = toComment(table)
  const sm = bundle.lastIndexOf('\n//# sourceMappingURL=')
  return sm < 0 ? `${bundle}${bundle.endsWith('\n') ? '' : '\n'}${line}\n` : `${bundle.slice(0, sm + 1)}${line}\n${bundle.slice(sm + 1)}`
}
