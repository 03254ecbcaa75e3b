/**
 * Path safety for names that come from manifests, codecs or user code: a collection path is a
 * relative, `/`-separated path with no empty, `.` or `..` component and no NUL. Anything that
 * touches the disk (materialize, the local store) additionally refuses control characters and
 * resolves every path strictly inside its target directory. Pure string functions: no node:fs,
 * no node:path (collection paths are POSIX-style whatever the host).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * The most components a collection path may have (`a/b/c` has 3). Deeper paths are refused
 * with an error value: every walk over a tree recurses per level, and no file system takes
 * paths this deep (Linux's PATH_MAX of 4096 bytes allows at most 2048 components).
 *
 * @category constants
 * @since 0.1.0
 */
export const MAX_PATH_DEPTH = 1024

/**
 * Why a path of `depth` components is too deep, or undefined.
 *
 * @category guards
 * @since 0.1.0
 */
export const depthProblem = (depth: number): string | undefined =>
  depth > MAX_PATH_DEPTH ? `it has ${depth} components, more than the limit of ${MAX_PATH_DEPTH}` : undefined

/**
 * Why `component` cannot be one path component, or undefined when it can.
 *
 * @category guards
 * @since 0.1.0
 */
export const componentProblem = (component: string): string | undefined => {
  if (component === '') return 'it has an empty component (a leading, trailing or doubled "/")'
  if (component === '.') return 'it has a "." component'
  if (component === '..') return 'it has a ".." component, which would leave its directory'
  if (component.includes('\u0000')) return 'it contains a NUL byte'
  return undefined
}

/**
 * Splits a relative collection path into its components, or says what is wrong with it.
 *
 * @category guards
 * @since 0.1.0
 */
export const components = (path: string): E.Either<string, ReadonlyArray<string>> => {
  if (path === '') return E.left('it is empty')
  if (path.startsWith('/')) return E.left('it is absolute (starts with "/")')
  const parts = path.split('/')
  const deep = depthProblem(parts.length)
  if (deep !== undefined) return E.left(deep)
  for (const c of parts) {
    const problem = componentProblem(c)
    if (problem !== undefined) return E.left(problem)
  }
  return E.right(parts)
}

/**
 * Why a path cannot be written to disk (in addition to `components`): control characters.
 *
 * @category guards
 * @since 0.1.0
 */
export const diskProblem = (path: string): string | undefined => {
  const e = components(path)
  if (E.isLeft(e)) return e.left
  if (CONTROL.test(path)) return 'it contains a control character'
  return undefined
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * Joins a checked relative path under `root` (a directory path, no trailing slash needed).
 * Returns Left when the path is not safe, so the result is always strictly inside `root`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const inside = (root: string, relative: string): E.Either<string, string> => {
  const problem = diskProblem(relative)
  if (problem !== undefined) return E.left(problem)
  const base = root.endsWith('/') ? root.slice(0, -1) : root
  return E.right(`${base}/${relative}`)
}

/**
 * Quotes a string for an error message: control characters escaped (JSON style), long text cut.
 *
 * @category utils
 * @since 0.1.0
 */
export const show = (text: string): string => {
  const cut = text.length > 120 ? `${text.slice(0, 117)}...` : text
  return JSON.stringify(cut).replace(/\u007f/g, '\\u007f')
}
