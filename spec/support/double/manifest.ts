/**
 * Manifest text handling for the Arvados double: the Rails-style validator (ARVADOS-FACTS §11.4),
 * signature stripping and signing (§10), the portable data hash (§11.3), reading a manifest as a
 * list of files (§11.1) and building a normalized manifest from files (§11.2).
 *
 * Kept inside spec/support/double so the double stays independent of lib/.
 */
import * as Crypto from 'node:crypto'

/** md5 of the empty string with its size: the empty block. */
export const EMPTY_BLOCK = 'd41d8cd98f00b204e9800998ecf8427e+0'
/** Largest Keep block. */
export const BLOCK_SIZE = 64 * 1024 * 1024

const STREAM_NAME = /^(\.)(\/[^/\s]+)*$/
const LOCATOR = /^[0-9a-fA-F]{32}(\+[0-9]+)?(\+[A-Z][-A-Za-z0-9@_]*)*$/
const FILE_TOKEN = /^[0-9]+:[0-9]+:(?:[^\s/\\]|\\[0-3][0-7][0-7]|\\\\)(?:[^\s\\]|\\[0-3][0-7][0-7]|\\\\)*$/
const BAD_ESCAPE = /\\[4-7][0-7][0-7]/

export interface Stream {
  readonly name: string
  readonly locators: ReadonlyArray<string>
  readonly files: ReadonlyArray<{ readonly pos: number; readonly len: number; readonly name: string }>
}

/** Returns the first problem of a manifest per the Rails validator, or undefined when it is valid. */
export const validate = (text: string): string | undefined => {
  if (text === '') return undefined
  if (!text.endsWith('\n')) return 'Invalid manifest: manifest text must end with a newline'
  const lines = text.slice(0, -1).split('\n')
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}`
    if (line.endsWith(' ')) return `Invalid manifest: trailing space on ${where}`
    const tokens = line.split(' ')
    if (tokens.some((t) => t === '')) return `Invalid manifest: empty token (double space) on ${where}`
    const [name, ...rest] = tokens
    if (name === undefined || !STREAM_NAME.test(name) || /\/\.{1,2}(\/|$)/.test(name))
      return `Invalid manifest: invalid stream name ${JSON.stringify(name)} on ${where}`
    let j = 0
    while (j < rest.length && LOCATOR.test(rest[j] ?? '')) j++
    if (j === 0) return `Invalid manifest: no locator on ${where}`
    if (j === rest.length) return `Invalid manifest: no file token on ${where}`
    for (const f of rest.slice(j)) {
      if (!FILE_TOKEN.test(f)) return `Invalid manifest: invalid file token ${JSON.stringify(f)} on ${where}`
      if (BAD_ESCAPE.test(f)) return `Invalid manifest: escape above \\377 in ${JSON.stringify(f)} on ${where}`
      const fname = unescape(f.slice(f.indexOf(':', f.indexOf(':') + 1) + 1))
      const parts = fname.split('/')
      if (fname !== '.' && (fname.startsWith('/') || fname.endsWith('/') || parts.some((p) => p === '' || p === '..' || (p === '.' && parts.length > 1))))
        return `Invalid manifest: invalid file name ${JSON.stringify(f)} on ${where}`
    }
  }
  return undefined
}

/** Decodes `\ooo` and `\\` escapes. */
export const unescape = (s: string): string => {
  if (!s.includes('\\')) return s
  const bytes: Array<number> = []
  const raw = Buffer.from(s, 'utf8')
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number
    if (b === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c)
      i++
    } else if (b === 0x5c && i + 3 < raw.length + 0 && /^[0-3][0-7][0-7]$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8))
      i += 3
    } else bytes.push(b)
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Escapes control characters, space, `:` and `\` as `\ooo`. */
export const escape = (s: string): string => {
  const out: Array<number> = []
  for (const b of Buffer.from(s, 'utf8')) {
    if (b <= 0x20 || b === 0x3a || b === 0x5c) out.push(...Buffer.from('\\' + b.toString(8).padStart(3, '0'), 'latin1'))
    else out.push(b)
  }
  return Buffer.from(out).toString('utf8')
}

/** Parses a (valid) manifest into streams; names stay escaped. */
export const parse = (text: string): Array<Stream> =>
  text === ''
    ? []
    : text
        .slice(0, -1)
        .split('\n')
        .map((line) => {
          const [name = '.', ...rest] = line.split(' ')
          const locators = rest.filter((t) => LOCATOR.test(t))
          const files = rest
            .filter((t) => !LOCATOR.test(t))
            .map((t) => {
              const a = t.indexOf(':')
              const b = t.indexOf(':', a + 1)
              return { pos: Number(t.slice(0, a)), len: Number(t.slice(a + 1, b)), name: t.slice(b + 1) }
            })
          return { name, locators, files }
        })

const mapLocators = (text: string, f: (loc: string) => string): string =>
  text === ''
    ? ''
    : text
        .slice(0, -1)
        .split('\n')
        .map((line) =>
          line
            .split(' ')
            .map((t, i) => (i > 0 && LOCATOR.test(t) ? f(t) : t))
            .join(' '),
        )
        .join('\n') + '\n'

/** Removes `+A` permission hints, keeping all other hints. */
export const stripSignatures = (text: string): string => mapLocators(text, (l) => l.split('+').filter((h, i) => i === 0 || !h.startsWith('A')).join('+'))

/** Keeps only `<md5>+<size>` in every locator. */
export const portable = (text: string): string => mapLocators(text, (l) => l.split('+').slice(0, 2).join('+'))

/** md5 of the portable text, `+`, its byte length. */
export const portableDataHash = (text: string): string => {
  const p = portable(text)
  return Crypto.createHash('md5').update(p, 'utf8').digest('hex') + '+' + Buffer.byteLength(p, 'utf8')
}

/** Applies `f` to each locator that has data (size > 0). */
export const mapDataLocators = (text: string, f: (loc: string) => string): string =>
  mapLocators(text, (l) => (l.split('+')[1] === '0' ? l : f(l)))

/** Every locator token of a manifest (with hints). */
export const locators = (text: string): Array<string> => parse(text).flatMap((s) => s.locators)

/** A file of a manifest: its path and where its bytes are. */
export interface FileEntry {
  readonly path: string
  readonly size: number
  readonly pieces: ReadonlyArray<{ readonly locator: string; readonly offset: number; readonly len: number }>
}

/** Files (concatenated over all tokens) and empty directories of a manifest, in first-seen order. */
export const files = (text: string): { files: Array<FileEntry>; dirs: Array<string> } => {
  const byPath = new Map<string, { path: string; size: number; pieces: Array<{ locator: string; offset: number; len: number }> }>()
  const dirs: Array<string> = []
  for (const s of parse(text)) {
    const stream = unescape(s.name).slice(2)
    const starts: Array<{ locator: string; start: number; size: number }> = []
    let total = 0
    for (const l of s.locators) {
      const size = Number(l.split('+')[1] ?? 0)
      starts.push({ locator: l, start: total, size })
      total += size
    }
    for (const f of s.files) {
      const name = unescape(f.name)
      const path = stream === '' ? name : `${stream}/${name}`
      if (name === '.' || name.endsWith('/.')) {
        dirs.push(name === '.' ? stream : path.slice(0, -2))
        continue
      }
      const entry = byPath.get(path) ?? { path, size: 0, pieces: [] }
      byPath.set(path, entry)
      let pos = f.pos
      let left = f.len
      for (const b of starts) {
        if (left === 0) break
        if (pos >= b.start + b.size || b.size === 0) continue
        const offset = pos - b.start
        const len = Math.min(left, b.size - offset)
        entry.pieces.push({ locator: b.locator, offset, len })
        pos += len
        left -= len
      }
      entry.size += f.len - left
    }
  }
  return { files: [...byPath.values()], dirs }
}

/** File count and total size as the server computes them (`.` markers not counted). */
export const fileStats = (text: string): { count: number; size: number } => {
  const fs = files(text).files
  return { count: fs.length, size: fs.reduce((a, f) => a + f.size, 0) }
}

/** Input to `build`: a file's path (with `/`) and bytes, or an empty directory's path. */
export type BuildEntry = { readonly path: string; readonly data: Buffer } | { readonly path: string; readonly dir: true }

/**
 * Builds a normalized manifest from files: one stream per directory (tree order), files sorted,
 * the directory's data packed into blocks of at most 64 MiB stored with `put`, which returns the
 * locator to write.
 */
export const build = (entries: ReadonlyArray<BuildEntry>, put: (data: Buffer) => string): string => {
  interface Dir {
    files: Map<string, Buffer>
    dirs: Map<string, Dir>
  }
  const root: Dir = { files: new Map(), dirs: new Map() }
  const dirOf = (parts: ReadonlyArray<string>): Dir =>
    parts.reduce((d, p) => {
      const next = d.dirs.get(p) ?? { files: new Map(), dirs: new Map() }
      d.dirs.set(p, next)
      return next
    }, root)
  for (const e of entries) {
    const parts = e.path.split('/').filter((p) => p !== '')
    if ('dir' in e) dirOf(parts)
    else dirOf(parts.slice(0, -1)).files.set(parts[parts.length - 1] ?? '', e.data)
  }
  const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))
  const lines: Array<string> = []
  const walk = (d: Dir, name: string): void => {
    const names = [...d.files.keys()].sort(byteOrder)
    if (names.length > 0) {
      const locs: Array<string> = []
      const toks: Array<string> = []
      let pending: Array<Buffer> = []
      let pendingLen = 0
      let pos = 0
      const flush = (): void => {
        if (pendingLen > 0) locs.push(put(Buffer.concat(pending)))
        pending = []
        pendingLen = 0
      }
      for (const n of names) {
        const data = d.files.get(n) as Buffer
        toks.push(`${pos}:${data.length}:${escape(n)}`)
        let off = 0
        while (off < data.length) {
          const take = Math.min(BLOCK_SIZE - pendingLen, data.length - off)
          pending.push(data.subarray(off, off + take))
          pendingLen += take
          off += take
          if (pendingLen === BLOCK_SIZE) flush()
        }
        pos += data.length
      }
      flush()
      if (locs.length === 0) locs.push(EMPTY_BLOCK)
      lines.push(`${name} ${locs.join(' ')} ${toks.join(' ')}`)
    } else if (d.dirs.size === 0 && name !== '.') lines.push(`${name} ${EMPTY_BLOCK} 0:0:\\056`)
    for (const sub of [...d.dirs.keys()].sort(byteOrder)) walk(d.dirs.get(sub) as Dir, `${name}/${escape(sub)}`)
  }
  walk(root, '.')
  return lines.map((l) => l + '\n').join('')
}
