/**
 * A collection's files on disk in the local store (`trees/<pdh>/`, what `ctx.path` hands out),
 * sealed so that a work cannot change what a later call or run reads there: every file is made
 * read-only (0444), and every file and directory gets the fixed modification time `SEALED`.
 * Directories stay writable by their owner (0755), so that `rm -rf` of a cache still works.
 * Before a tree is handed out it is checked against its manifest: each file (or the one asked
 * for) is a regular file of the manifest's size, still read-only, still dated `SEALED`, and each
 * directory still dated `SEALED` (a file added or removed would date it now). Writing to a file
 * dates it now, so a change is seen even by a process that may write anyway (root); the store
 * then writes the tree again from its verified blocks. The check is a `stat` per entry, never a
 * read. A change that restores the size and the date on purpose (`touch -d`) is not detected.
 *
 * @since 0.1.0
 */
import * as FsP from 'node:fs/promises'
import * as Path from 'node:path'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a tree must hold: its files (relative paths and sizes) and its empty directories.
 *
 * @category models
 * @since 0.1.0
 */
export interface Shape {
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>
  readonly directories: ReadonlyArray<string>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Verdict = 'absent' | 'sealed' | 'altered'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The modification time of every sealed file and directory (2001-01-01T00:00:00Z).
 *
 * @category constants
 * @since 0.1.0
 */
export const SEALED = new Date(Date.UTC(2001, 0, 1))
const SEALED_S = SEALED.getTime() / 1000

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** every directory of the shape, '' (the root) included, deepest first */
const directoriesOf = (shape: Shape): ReadonlyArray<string> => {
  const all = new Set<string>([''])
  const add = (p: string): void => {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) all.add(p.slice(0, i))
  }
  for (const f of shape.files) add(f.path)
  for (const d of shape.directories) {
    add(d)
    all.add(d)
  }
  return [...all].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1))
}

const isSealedTime = (mtimeMs: number): boolean => Math.round(mtimeMs) === SEALED_S * 1000

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Seals the tree at `dir` (which holds exactly `shape`).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const seal = async (dir: string, shape: Shape): Promise<void> => {
  for (const f of shape.files) {
    const p = Path.join(dir, f.path)
    await FsP.chmod(p, 0o444)
    await FsP.utimes(p, SEALED_S, SEALED_S)
  }
  for (const d of directoriesOf(shape)) {
    const p = Path.join(dir, d)
    await FsP.chmod(p, 0o755)
    await FsP.utimes(p, SEALED_S, SEALED_S)
  }
}

/**
 * Checks the tree at `dir` against `shape` (only the file `only` and its directories, when
 * given). `absent` when there is no tree.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const verify = async (dir: string, shape: Shape, only?: string): Promise<Verdict> => {
  const top = await FsP.lstat(dir).catch(() => undefined)
  if (top === undefined) return 'absent'
  if (!top.isDirectory()) return 'altered'
  const files = only === undefined ? shape.files : shape.files.filter((f) => f.path === only)
  for (const f of files) {
    const st = await FsP.lstat(Path.join(dir, f.path)).catch(() => undefined)
    if (st === undefined || !st.isFile() || st.size !== f.size || (st.mode & 0o222) !== 0 || !isSealedTime(st.mtimeMs)) return 'altered'
  }
  if (only !== undefined) return 'sealed'
  for (const d of directoriesOf(shape)) {
    const st = await FsP.lstat(Path.join(dir, d)).catch(() => undefined)
    if (st === undefined || !st.isDirectory() || !isSealedTime(st.mtimeMs)) return 'altered'
  }
  return 'sealed'
}

/**
 * Removes a tree, sealed or not (its directories are made writable first).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const remove = async (dir: string): Promise<void> => {
  const unseal = async (d: string): Promise<void> => {
    await FsP.chmod(d, 0o700).catch(() => undefined)
    const entries = await FsP.readdir(d, { withFileTypes: true }).catch(() => [])
    for (const e of entries) if (e.isDirectory()) await unseal(Path.join(d, e.name))
  }
  const st = await FsP.lstat(dir).catch(() => undefined)
  if (st === undefined) return
  if (st.isDirectory()) await unseal(dir)
  await FsP.rm(dir, { recursive: true, force: true })
}

/**
 * Moves a (possibly sealed) directory to `to` (a directory being moved needs to be writable).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const move = async (from: string, to: string): Promise<void> => {
  await FsP.chmod(from, 0o700)
  await FsP.rename(from, to)
}
