/**
 * The file tree a manifest describes, and the normalized manifest Arvados writes for it.
 * Each file is a list of pieces (block, offset, length); a path that appears in several
 * segments or streams is the concatenation of its pieces in manifest order. Normalization
 * walks the tree depth-first: at each level one stream with the directory's files sorted by
 * code point, then its subdirectories in sorted order; blocks listed once per stream in order
 * of first use; contiguous pieces merged; empty files as `0:0:name`; a stream whose files are
 * all empty gets the empty-block locator; an empty directory gets the `\056` marker.
 * Concatenation is normalization of the streams of several manifests in order: no block data
 * is copied. Pure.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Locator from '../keep/locator.js'
import * as Manifest from './manifest.js'
import * as PathSafety from './path-safety.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A byte range of one block.
 *
 * @category models
 * @since 0.1.0
 */
export interface Piece {
  readonly locator: Locator.Locator
  readonly offset: number
  readonly length: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface File {
  readonly _tag: 'File'
  readonly pieces: ReadonlyArray<Piece>
  readonly size: number
}

/**
 * Entries are kept in insertion order; normalization sorts them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Directory {
  readonly _tag: 'Directory'
  readonly entries: ReadonlyMap<string, Node>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Node = File | Directory

/**
 * A file with its full path, in tree order.
 *
 * @category models
 * @since 0.1.0
 */
export interface FileAt {
  readonly path: string
  readonly size: number
  readonly pieces: ReadonlyArray<Piece>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

interface MutableFile {
  readonly _tag: 'File'
  pieces: Array<Piece>
  size: number
}
interface MutableDirectory {
  readonly _tag: 'Directory'
  readonly entries: Map<string, MutableFile | MutableDirectory>
}

const newDirectory = (): MutableDirectory => ({ _tag: 'Directory', entries: new Map() })

/** Largest index i with starts[i] <= position. */
const blockAt = (starts: ReadonlyArray<number>, position: number): number => {
  let lo = 0
  let hi = starts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if ((starts[mid] ?? 0) <= position) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** Walks (creating) directories below `from`; Left names a component that is a file. */
const descend = (from: MutableDirectory, dirs: ReadonlyArray<string>, prefix: ReadonlyArray<string>): E.Either<{ readonly path: string; readonly was: string }, MutableDirectory> => {
  let dir = from
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i] ?? ''
    const existing = dir.entries.get(d)
    if (existing === undefined) {
      const created = newDirectory()
      dir.entries.set(d, created)
      dir = created
    } else if (existing._tag === 'File') return E.left({ path: [...prefix, ...dirs.slice(0, i + 1)].join('/'), was: 'file' })
    else dir = existing
  }
  return E.right(dir)
}

const clash = (line: number, token: number, c: { readonly path: string; readonly was: string }): Manifest.ManifestError =>
  Manifest.error(line, token, `${PathSafety.show(c.path)} is used both as a ${c.was} and as a ${c.was === 'file' ? 'directory' : 'file'}`, 'a path can be a file or a directory, not both')

/**
 * Builds the tree of one or more manifests, streams taken in order. A path used both as a
 * file and a directory is an error (as in the Go and Python SDKs).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromManifests = (manifests: ReadonlyArray<Manifest.Manifest>): E.Either<Manifest.ManifestError, Directory> => {
  const root = newDirectory()
  let line = 0
  for (const m of manifests) {
    for (const stream of m.streams) {
      line++
      const locators = stream.locators
      const starts: Array<number> = []
      let total = 0
      for (const l of locators) {
        starts.push(total)
        total += l.size
      }
      const streamDirs = stream.name === '.' ? [] : stream.name.slice(2).split('/')
      const tooDeep = PathSafety.depthProblem(streamDirs.length + 1)
      if (tooDeep !== undefined) return E.left(Manifest.error(line, 1, `the stream's paths are too deep: ${tooDeep}`, 'a collection path may have at most 1024 components'))
      const streamDir = descend(root, streamDirs, [])
      if (E.isLeft(streamDir)) return E.left(clash(line, 1, streamDir.left))
      const segments = stream.segments
      for (let si = 0; si < segments.length; si++) {
        const segment = segments[si]
        if (segment === undefined || segment.name === Manifest.DIRECTORY_MARKER) continue
        const slash = segment.name.lastIndexOf('/')
        let dir = streamDir.right
        let fileName = segment.name
        if (slash >= 0) {
          const subDirs = segment.name.slice(0, slash).split('/')
          const deep = PathSafety.depthProblem(streamDirs.length + subDirs.length + 1)
          if (deep !== undefined) return E.left(Manifest.error(line, 1 + locators.length + si + 1, `the path of ${PathSafety.show(segment.name)} is too deep: ${deep}`, 'a collection path may have at most 1024 components'))
          const sub = descend(streamDir.right, subDirs, streamDirs)
          if (E.isLeft(sub)) return E.left(clash(line, 1 + locators.length + si + 1, sub.left))
          dir = sub.right
          fileName = segment.name.slice(slash + 1)
        }
        let file = dir.entries.get(fileName)
        if (file !== undefined && file._tag === 'Directory') return E.left(clash(line, 1 + locators.length + si + 1, { path: [...streamDirs, ...segment.name.split('/')].join('/'), was: 'directory' }))
        let position = segment.position
        let remaining = segment.length
        let index = remaining > 0 ? blockAt(starts, position) : 0
        while (remaining > 0) {
          const locator = locators[index]
          const start = starts[index]
          if (locator === undefined || start === undefined) return E.left(Manifest.error(line, 1 + locators.length + si + 1, 'the segment runs past the end of its blocks'))
          const offset = position - start
          const length = Math.min(remaining, locator.size - offset)
          if (length > 0) {
            const piece: Piece = { locator, offset, length }
            if (file === undefined) {
              // a new file's pieces: an array of exactly one (most files have one piece)
              file = { _tag: 'File', pieces: [piece], size: length }
              dir.entries.set(fileName, file)
            } else {
              file.pieces.push(piece)
              file.size += length
            }
            position += length
            remaining -= length
          }
          index++
        }
        if (file === undefined) dir.entries.set(fileName, { _tag: 'File', pieces: [], size: 0 })
      }
    }
  }
  return E.right(root)
}

/**
 * The tree of one manifest.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromManifest = (m: Manifest.Manifest): E.Either<Manifest.ManifestError, Directory> => fromManifests([m])

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * Compares strings by code point (the byte order of their UTF-8), as Arvados sorts names.
 *
 * @category utils
 * @since 0.1.0
 */
export const compareNames = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // surrogates (astral code points) sort after every BMP code unit in code point order
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

/** The names of a directory's files and of its subdirectories, each sorted by `compareNames`. */
const sortedNames = (d: Directory): { readonly files: Array<string>; readonly dirs: Array<string> } => {
  const files: Array<string> = []
  const dirs: Array<string> = []
  d.entries.forEach((node, name) => {
    if (node._tag === 'File') files.push(name)
    else dirs.push(name)
  })
  files.sort(compareNames)
  dirs.sort(compareNames)
  return { files, dirs }
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Every file with its path, in tree order (files of a directory, then its subdirectories).
 *
 * @category destructors
 * @since 0.1.0
 */
export const files = (root: Directory): ReadonlyArray<FileAt> => {
  const out: Array<FileAt> = []
  const walk = (d: Directory, prefix: string): void => {
    const { files: fs, dirs } = sortedNames(d)
    for (const name of fs) {
      const f = d.entries.get(name) as File
      out.push({ path: prefix + name, size: f.size, pieces: f.pieces })
    }
    for (const name of dirs) walk(d.entries.get(name) as Directory, `${prefix}${name}/`)
  }
  walk(root, '')
  return out
}

/**
 * Finds the node at a relative path (`''` is the root).
 *
 * @category destructors
 * @since 0.1.0
 */
export const lookup = (root: Directory, path: string): Node | undefined => {
  if (path === '') return root
  let node: Node = root
  for (const part of path.split('/')) {
    if (node._tag !== 'Directory') return undefined
    const next: Node | undefined = node.entries.get(part)
    if (next === undefined) return undefined
    node = next
  }
  return node
}

/**
 * Every empty directory (no files, no subdirectories) by path, the root excluded.
 *
 * @category destructors
 * @since 0.1.0
 */
export const emptyDirectories = (root: Directory): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (d: Directory, prefix: string): void => {
    for (const name of sortedNames(d).dirs) {
      const sub = d.entries.get(name) as Directory
      if (sub.entries.size === 0) out.push(prefix + name)
      else walk(sub, `${prefix}${name}/`)
    }
  }
  walk(root, '')
  return out
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

const normalizeStream = (name: string, d: Directory, fileNames: ReadonlyArray<string>): Manifest.Stream => {
  const locators: Array<Locator.Locator> = []
  // where each block starts in the stream, by hash (then by hash+size for another size of one hash)
  const byHash = new Map<string, { readonly size: number; readonly start: number }>()
  const byKey = new Map<string, number>()
  let total = 0
  const startOf = (l: Locator.Locator): number => {
    const known = byHash.get(l.hash)
    if (known === undefined) {
      byHash.set(l.hash, { size: l.size, start: total })
    } else if (known.size === l.size) return known.start
    else {
      const k = Locator.key(l)
      const start = byKey.get(k)
      if (start !== undefined) return start
      byKey.set(k, total)
    }
    locators.push(l)
    total += l.size
    return total - l.size
  }
  for (const fileName of fileNames) for (const p of (d.entries.get(fileName) as File).pieces) startOf(p.locator)
  const segments: Array<Manifest.Segment> = []
  for (const fileName of fileNames) {
    let position = 0
    let length = -1 // no piece yet
    for (const p of (d.entries.get(fileName) as File).pieces) {
      const at = startOf(p.locator) + p.offset
      if (length >= 0 && position + length === at) length += p.length
      else {
        if (length >= 0) segments.push({ position, length, name: fileName })
        position = at
        length = p.length
      }
    }
    segments.push(length < 0 ? { position: 0, length: 0, name: fileName } : { position, length, name: fileName })
  }
  return { name, locators: locators.length === 0 ? [Locator.EMPTY_BLOCK] : locators, segments }
}

/**
 * The normalized manifest of a tree.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const normalize = (root: Directory): Manifest.Manifest => {
  const streams: Array<Manifest.Stream> = []
  const walk = (d: Directory, name: string, isRoot: boolean): void => {
    const { files: fs, dirs } = sortedNames(d)
    if (fs.length > 0) streams.push(normalizeStream(name, d, fs))
    else if (dirs.length === 0 && !isRoot) streams.push({ name, locators: [Locator.EMPTY_BLOCK], segments: [{ position: 0, length: 0, name: Manifest.DIRECTORY_MARKER }] })
    for (const sub of dirs) walk(d.entries.get(sub) as Directory, `${name}/${sub}`, false)
  }
  walk(root, '.', true)
  return { streams }
}

/**
 * Normalizes manifest text (parse, build the tree, print the normalized streams).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const normalizeText = (text: string): E.Either<Manifest.ManifestError, string> => {
  const m = Manifest.parse(text)
  if (E.isLeft(m)) return m
  const t = fromManifest(m.right)
  if (E.isLeft(t)) return t
  return E.right(Manifest.print(normalize(t.right)))
}

/**
 * Concatenates manifests in order: the result's tree holds every path of every part; a path in
 * several parts is the byte-wise concatenation of its contents in that order. Empty manifests
 * contribute nothing. Returns the normalized manifest.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const concat = (parts: ReadonlyArray<Manifest.Manifest>): E.Either<Manifest.ManifestError, Manifest.Manifest> => {
  const t = fromManifests(parts)
  if (E.isLeft(t)) return t
  return E.right(normalize(t.right))
}
