/**
 * Writing a collection's files into a directory, safely. Every path (files and empty
 * directories) is checked before anything is written: no `..`, no absolute path, no NUL, no
 * control character. The target must not exist or be an empty directory; every directory and
 * file below it is created relative to an open descriptor of a directory this function created,
 * never through a symlink at any depth (see `walker`), so nothing outside the target can be
 * touched even while another program swaps directories for symlinks. Bytes are streamed (one
 * block in memory).
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'
import * as Collection from './collection.js'
import * as PathSafety from './path-safety.js'
import * as Tree from './tree.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type MaterializeError = Errors.SdkError & { readonly _tag: 'MaterializeError'; readonly target: string; readonly path: string }

const fail = (code: string, target: string, path: string, message: string, hint?: string, cause?: unknown): MaterializeError =>
  Errors.make('MaterializeError', code, message, { target, path }, { ...(hint === undefined ? {} : { hint }), ...(cause === undefined ? {} : { cause }) })

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Checks every path of a collection for writing to disk; Left names the first unsafe one.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const check = (c: Collection.Collection, target = '<target>'): E.Either<Errors.SdkError, { readonly files: ReadonlyArray<Tree.FileAt>; readonly directories: ReadonlyArray<string> }> => {
  const t = Collection.treeOf(c)
  if (E.isLeft(t)) return t
  const files = Tree.files(t.right)
  const directories = Tree.emptyDirectories(t.right)
  for (const p of [...files.map((f) => f.path), ...directories]) {
    const problem = PathSafety.diskProblem(p)
    if (problem !== undefined) return E.left(fail('ARV_UNSAFE_PATH', target, p, `collection ${c.pdh} has a path that cannot be written to disk: ${PathSafety.show(p)} (${problem}); nothing was written`, 'rename the file in the collection'))
  }
  return E.right({ files, directories })
}

const PROC_FD = '/proc/self/fd'
const DIR_FLAGS = Fs.constants.O_RDONLY | Fs.constants.O_DIRECTORY | Fs.constants.O_NOFOLLOW
const FILE_FLAGS = Fs.constants.O_WRONLY | Fs.constants.O_CREAT | Fs.constants.O_EXCL | Fs.constants.O_NOFOLLOW
/** Directory handles kept open at once (files come in tree order, so a few suffice). */
const OPEN_DIRECTORIES = 64

/**
 * Whether `/proc/self/fd/<fd>/<name>` can stand in for `openat(fd, name)` here (Linux).
 *
 * @category utils
 * @since 0.1.0
 */
export const hasFdPaths = (): boolean => {
  try {
    return Fs.statSync(`${PROC_FD}/0`, { throwIfNoEntry: false }) !== undefined || Fs.readdirSync(PROC_FD).length > 0
  } catch {
    return false
  }
}

/**
 * Creates and opens directories and files below one opened directory without following a
 * symlink at any depth.
 *
 * On Linux every step is relative to an open directory: `/proc/self/fd/<fd>/<name>` resolves
 * `name` inside the directory the descriptor holds (as `openat` would), whatever has since been
 * renamed or swapped along the path, and `O_NOFOLLOW` refuses `name` itself being a symlink.
 * Each directory is created by `mkdir` (so it did not exist), opened with `O_DIRECTORY |
 * O_NOFOLLOW`, and its inode is checked against the one seen right after `mkdir`. A file is
 * created with `O_CREAT | O_EXCL | O_NOFOLLOW` in its directory's descriptor. Elsewhere (no
 * `/proc`), paths are joined from the target and each directory is checked with `lstat`
 * (device and inode) before and after each step; a swap within that window is caught after the
 * fact, which is a weaker guarantee, documented in docs/reliability.md.
 */
const walker = async (targetHandle: FsP.FileHandle, target: string, useFd: boolean) => {
  const rootStat = await targetHandle.stat()
  const inodes = new Map<string, { readonly dev: number; readonly ino: number }>([['', { dev: rootStat.dev, ino: rootStat.ino }]])
  const handles = new Map<string, FsP.FileHandle>()
  const pathOf = (rel: string): string => (rel === '' ? target : `${target}/${rel}`)
  const at = (dir: FsP.FileHandle | undefined, parentRel: string, name: string): string =>
    dir === undefined ? `${pathOf(parentRel)}/${name}` : `${PROC_FD}/${dir.fd}/${name}`

  const same = (a: { readonly dev: number; readonly ino: number }, b: { readonly dev: number; readonly ino: number }): boolean => a.dev === b.dev && a.ino === b.ino
  const moved = (rel: string): Error => Object.assign(new Error(`${rel === '' ? 'the target' : JSON.stringify(rel)} was replaced while it was being written (a symlink or another directory swapped in)`), { code: 'ARV_TARGET_CHANGED' })

  /** Checks, without /proc, that each directory on the way to `rel` is still the one created. */
  const verifyPath = async (rel: string): Promise<void> => {
    const parts = rel === '' ? [] : rel.split('/')
    for (let i = 0; i <= parts.length; i++) {
      const r = parts.slice(0, i).join('/')
      const st = await FsP.lstat(pathOf(r))
      const want = inodes.get(r)
      if (!st.isDirectory() || want === undefined || !same(st, want)) throw moved(r)
    }
  }

  const evict = async (): Promise<void> => {
    while (handles.size >= OPEN_DIRECTORIES) {
      const [oldest, h] = handles.entries().next().value as [string, FsP.FileHandle]
      handles.delete(oldest)
      await h.close()
    }
  }

  /** An open handle of directory `rel` (created by this walk unless it is the root), or undefined without /proc. */
  const open = async (rel: string): Promise<FsP.FileHandle | undefined> => {
    if (rel === '') return useFd ? targetHandle : undefined
    if (!useFd) {
      await verifyPath(rel)
      return undefined
    }
    const cached = handles.get(rel)
    if (cached !== undefined) return cached
    const cut = rel.lastIndexOf('/')
    const parentRel = cut < 0 ? '' : rel.slice(0, cut)
    const parent = await open(parentRel)
    const h = await FsP.open(at(parent, parentRel, rel.slice(cut + 1)), DIR_FLAGS)
    const st = await h.stat()
    const want = inodes.get(rel)
    if (want === undefined || !same(st, want)) {
      await h.close()
      throw moved(rel)
    }
    await evict()
    handles.set(rel, h)
    return h
  }

  /** Creates directory `rel` and every missing one above it. */
  const ensureDir = async (rel: string): Promise<void> => {
    if (inodes.has(rel)) return
    const cut = rel.lastIndexOf('/')
    const parentRel = cut < 0 ? '' : rel.slice(0, cut)
    await ensureDir(parentRel)
    const parent = await open(parentRel)
    const path = at(parent, parentRel, rel.slice(cut + 1))
    await FsP.mkdir(path) // fails if anything exists there already
    const st = await FsP.lstat(path)
    if (!st.isDirectory()) throw moved(rel)
    inodes.set(rel, { dev: st.dev, ino: st.ino })
    if (!useFd) await verifyPath(rel)
  }

  /** Creates file `rel` exclusively in its directory and returns its handle. */
  const createFile = async (rel: string): Promise<FsP.FileHandle> => {
    const cut = rel.lastIndexOf('/')
    const parentRel = cut < 0 ? '' : rel.slice(0, cut)
    await ensureDir(parentRel)
    const parent = await open(parentRel)
    const h = await FsP.open(at(parent, parentRel, rel.slice(cut + 1)), FILE_FLAGS, 0o644)
    if (!useFd) {
      try {
        await verifyPath(parentRel)
      } catch (e) {
        await h.close()
        throw e
      }
    }
    return h
  }

  const close = async (): Promise<void> => {
    await Promise.allSettled([...handles.values()].map((h) => h.close()))
    handles.clear()
  }
  return { ensureDir, createFile, close }
}

/**
 * Writes every file (and empty directory) of `c` under `target`. Returns the target path.
 *
 * Nothing is written outside `target`, even while another process renames directories or
 * swaps symlinks inside it: see `walker` (every directory and file is created relative to an
 * open directory, never through a symlink). A swap that is detected fails the call with
 * `ARV_TARGET_CHANGED`.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const materialize = async (c: Collection.Collection, target: string, signal?: AbortSignal): Promise<E.Either<Errors.SdkError, string>> => {
  const checked = check(c, target)
  if (E.isLeft(checked)) return checked
  let targetHandle: FsP.FileHandle
  try {
    await FsP.mkdir(target, { recursive: true })
    targetHandle = await FsP.open(target, Fs.constants.O_RDONLY | Fs.constants.O_DIRECTORY)
  } catch (cause) {
    return E.left(fail('ARV_MATERIALIZE_IO', target, '', `cannot create ${target}`, undefined, cause))
  }
  const useFd = hasFdPaths()
  try {
    const existing = await FsP.readdir(useFd ? `${PROC_FD}/${targetHandle.fd}` : target)
    if (existing.length > 0) await targetHandle.close()
    if (existing.length > 0) return E.left(fail('ARV_TARGET_NOT_EMPTY', target, '', `cannot materialize collection ${c.pdh} into ${target}: the directory is not empty`, 'use a new or empty directory'))
  } catch (cause) {
    await targetHandle.close()
    return E.left(fail('ARV_MATERIALIZE_IO', target, '', `cannot read ${target}`, undefined, cause))
  }
  const walk = await walker(targetHandle, target, useFd)
  const failure = (path: string, message: string, cause: unknown): MaterializeError =>
    (cause as { code?: unknown }).code === 'ARV_TARGET_CHANGED' || (cause as { code?: unknown }).code === 'ELOOP'
      ? fail('ARV_TARGET_CHANGED', target, path, `${message}: a directory under the target was replaced (by a symlink or another directory) while it was written; nothing was written outside ${target}`, 'materialize into a directory no other program changes', cause)
      : fail('ARV_MATERIALIZE_IO', target, path, message, undefined, cause)
  try {
    for (const f of checked.right.files) {
      try {
        if (signal?.aborted === true) return E.left(fail('ARV_ABORTED', target, f.path, `materializing ${c.pdh} was aborted`))
        const handle = await walk.createFile(f.path)
        try {
          for await (const chunk of Collection.streamEither(c, f.path, signal)) {
            if (E.isLeft(chunk)) return chunk
            await handle.write(chunk.right)
          }
        } finally {
          await handle.close()
        }
      } catch (cause) {
        return E.left(failure(f.path, `cannot write ${PathSafety.show(f.path)} of ${c.pdh} under ${target}`, cause))
      }
    }
    for (const d of checked.right.directories) {
      try {
        await walk.ensureDir(d)
      } catch (cause) {
        return E.left(failure(d, `cannot create directory ${PathSafety.show(d)} under ${target}`, cause))
      }
    }
    return E.right(target)
  } finally {
    await walk.close()
    await targetHandle.close()
  }
}
