/**
 * Writing a collection's files into a directory, safely. Every path (files and empty
 * directories) is checked before anything is written: no `..`, no absolute path, no NUL, no
 * control character. The target must not exist or be an empty directory; files are created
 * exclusively (`wx`, never following a symlink) under directories this function created, so
 * nothing outside the target can be touched. Bytes are streamed (one block in memory).
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

/**
 * Writes every file (and empty directory) of `c` under `target`. Returns the target path.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const materialize = async (c: Collection.Collection, target: string, signal?: AbortSignal): Promise<E.Either<Errors.SdkError, string>> => {
  const checked = check(c, target)
  if (E.isLeft(checked)) return checked
  try {
    await FsP.mkdir(target, { recursive: true })
    const existing = await FsP.readdir(target)
    if (existing.length > 0) return E.left(fail('ARV_TARGET_NOT_EMPTY', target, '', `cannot materialize collection ${c.pdh} into ${target}: the directory is not empty`, 'use a new or empty directory'))
  } catch (cause) {
    return E.left(fail('ARV_MATERIALIZE_IO', target, '', `cannot create ${target}`, undefined, cause))
  }
  const made = new Set<string>([''])
  const ensureDir = async (rel: string): Promise<void> => {
    if (made.has(rel)) return
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : ''
    await ensureDir(parent)
    await FsP.mkdir(`${target}/${rel}`) // fails if something exists there already
    made.add(rel)
  }
  for (const f of checked.right.files) {
    try {
      if (signal?.aborted === true) return E.left(fail('ARV_ABORTED', target, f.path, `materializing ${c.pdh} was aborted`))
      await ensureDir(f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/')) : '')
      const handle = await FsP.open(`${target}/${f.path}`, Fs.constants.O_WRONLY | Fs.constants.O_CREAT | Fs.constants.O_EXCL | Fs.constants.O_NOFOLLOW, 0o644)
      try {
        for await (const chunk of Collection.streamEither(c, f.path, signal)) {
          if (E.isLeft(chunk)) return chunk
          await handle.write(chunk.right)
        }
      } finally {
        await handle.close()
      }
    } catch (cause) {
      return E.left(fail('ARV_MATERIALIZE_IO', target, f.path, `cannot write ${PathSafety.show(f.path)} of ${c.pdh} under ${target}`, undefined, cause))
    }
  }
  for (const d of checked.right.directories) {
    try {
      await ensureDir(d)
    } catch (cause) {
      return E.left(fail('ARV_MATERIALIZE_IO', target, d, `cannot create directory ${PathSafety.show(d)} under ${target}`, undefined, cause))
    }
  }
  return E.right(target)
}
