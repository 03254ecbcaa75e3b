/**
 * Manifest text as Arvados reads and writes it. A manifest is zero or more streams, one per
 * line ending in `\n`: `<stream name> <locator>+ <pos:len:name>+`, tokens separated by single
 * spaces. Names are octal-escaped (`\040` for a space; bytes 0-32, `:` and `\` are escaped on
 * output; `\\` is also read as a backslash, like the Go and Ruby readers). A segment's position
 * is an offset into the concatenation of its stream's blocks.
 *
 * `parse` is strict and rejects hostile input (`..`, absolute paths, NUL, raw control
 * characters, segments past the end of their blocks, absurd sizes, malformed locators) with the
 * stream (line) and token position. `print` writes the canonical form, so
 * `print(parse(m)) === m` for any manifest written by an Arvados writer.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'
import * as Locator from '../keep/locator.js'
import * as PathSafety from './path-safety.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One `pos:len:name` token; `name` is unescaped and may contain `/`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Segment {
  readonly position: number
  readonly length: number
  readonly name: string
}

/**
 * One line. `name` is unescaped: `.` or `./a/b`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stream {
  readonly name: string
  readonly locators: ReadonlyArray<Locator.Locator>
  readonly segments: ReadonlyArray<Segment>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Manifest {
  readonly streams: ReadonlyArray<Stream>
}

/**
 * A manifest that cannot be read; `stream` is the 1-based line, `token` the 1-based token in it
 * (0 when the problem is the whole line or text).
 *
 * @category models
 * @since 0.1.0
 */
export type ManifestError = Errors.SdkError & { readonly _tag: 'ManifestError'; readonly stream: number; readonly token: number }

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The name of the empty-directory marker file (`0:0:\056`).
 *
 * @category constants
 * @since 0.1.0
 */
export const DIRECTORY_MARKER = '.'

/**
 * The empty manifest.
 *
 * @category constants
 * @since 0.1.0
 */
export const empty: Manifest = { streams: [] }

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.1.0
 */
export const error = (stream: number, token: number, message: string, hint?: string, cause?: unknown): ManifestError =>
  Errors.make(
    'ManifestError',
    'ARV_MANIFEST',
    token === 0 ? `invalid manifest at stream ${stream}: ${message}` : `invalid manifest at stream ${stream}, token ${token}: ${message}`,
    { stream, token },
    {
      hint: hint ?? 'a manifest line is "<stream name> <locator>... <pos:len:name>..." with single spaces and a final newline',
      ...(cause === undefined ? {} : { cause }),
    },
  )

const DIGITS = /^(0|[1-9][0-9]*)$/
const LOCATOR_START = /^[0-9a-f]{32}\+/
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/
/** A UTF-16 surrogate without its other half: the text was not valid UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const UTF8 = new TextDecoder('utf-8', { fatal: true })
const ENCODER = new TextEncoder()

/**
 * Decodes the octal escapes of one token (`\ooo` with a first digit 0-3, and `\\`). Escaped
 * bytes must form valid UTF-8 together with the raw text. Left carries what was wrong.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unescape = (token: string): E.Either<string, string> => {
  if (!token.includes('\\')) return E.right(token)
  const bytes: Array<number> = []
  let i = 0
  while (i < token.length) {
    const c = token.charCodeAt(i)
    if (c === 92) {
      const next = token.slice(i + 1, i + 4)
      if (next.startsWith('\\')) {
        bytes.push(92)
        i += 2
      } else if (/^[0-3][0-7][0-7]$/.test(next)) {
        bytes.push(parseInt(next, 8))
        i += 4
      } else {
        return E.left(`invalid escape ${PathSafety.show(token.slice(i, i + 4))} (expected \\ followed by three octal digits up to \\377)`)
      }
    } else {
      let j = i
      while (j < token.length && token.charCodeAt(j) !== 92) j++
      for (const b of ENCODER.encode(token.slice(i, j))) bytes.push(b)
      i = j
    }
  }
  try {
    return E.right(UTF8.decode(Uint8Array.from(bytes)))
  } catch {
    return E.left('its escaped bytes are not valid UTF-8')
  }
}

const number = (text: string, what: string): E.Either<string, number> => {
  if (!DIGITS.test(text)) return E.left(`the ${what} ${PathSafety.show(text)} is not a decimal number`)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) return E.left(`the ${what} ${text} is too large`)
  return E.right(n)
}

const parseStreamName = (token: string, line: number): E.Either<ManifestError, string> => {
  const name = unescape(token)
  if (E.isLeft(name)) return E.left(error(line, 1, `the stream name has ${name.left}`))
  const n = name.right
  if (n === '.') return E.right(n)
  if (!n.startsWith('./')) return E.left(error(line, 1, `the stream name ${PathSafety.show(n)} does not start with "." (stream names are "." or "./dir/...")`))
  const parts = PathSafety.components(n.slice(2))
  if (E.isLeft(parts)) return E.left(error(line, 1, `the stream name ${PathSafety.show(n)} is not a safe path: ${parts.left}`))
  return E.right(n)
}

const parseSegment = (token: string, line: number, index: number, streamSize: number): E.Either<ManifestError, Segment> => {
  const first = token.indexOf(':')
  const second = first < 0 ? -1 : token.indexOf(':', first + 1)
  if (second < 0) return E.left(error(line, index, `${PathSafety.show(token)} is not a file segment "pos:len:name"`))
  const position = number(token.slice(0, first), 'segment position')
  if (E.isLeft(position)) return E.left(error(line, index, position.left))
  const length = number(token.slice(first + 1, second), 'segment length')
  if (E.isLeft(length)) return E.left(error(line, index, length.left))
  if (position.right + length.right > streamSize) {
    return E.left(
      error(line, index, `the segment ${position.right}:${length.right} runs past the end of its blocks (the stream's blocks hold ${streamSize} bytes)`, 'every segment must lie inside the data of the locators listed before it'),
    )
  }
  const name = unescape(token.slice(second + 1))
  if (E.isLeft(name)) return E.left(error(line, index, `the file name has ${name.left}`))
  if (name.right === DIRECTORY_MARKER) {
    if (length.right !== 0) return E.left(error(line, index, 'the directory marker "." must have length 0'))
    return E.right({ position: position.right, length: 0, name: DIRECTORY_MARKER })
  }
  const parts = PathSafety.components(name.right)
  if (E.isLeft(parts)) return E.left(error(line, index, `the file name ${PathSafety.show(name.right)} is not a safe path: ${parts.left}`))
  return E.right({ position: position.right, length: length.right, name: name.right })
}

const parseLine = (text: string, line: number): E.Either<ManifestError, Stream> => {
  if (text === '') return E.left(error(line, 0, 'the line is empty'))
  const tokens = text.split(' ')
  const nameToken = tokens[0] ?? ''
  if (nameToken === '') return E.left(error(line, 1, 'the stream name is empty (the line starts with a space)'))
  const name = parseStreamName(nameToken, line)
  if (E.isLeft(name)) return name
  const locators: Array<Locator.Locator> = []
  const segments: Array<Segment> = []
  let streamSize = 0
  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i] ?? ''
    const index = i + 1
    if (token === '') return E.left(error(line, index, i === tokens.length - 1 ? 'the line ends with a space' : 'two spaces in a row (tokens are separated by one space)'))
    if (segments.length === 0 && LOCATOR_START.test(token)) {
      const l = Locator.parse(token)
      if (E.isLeft(l)) return E.left(error(line, index, l.left.message, l.left.hint, l.left))
      locators.push(l.right)
      streamSize += l.right.size
      continue
    }
    if (locators.length === 0) return E.left(error(line, index, `expected a block locator, found ${PathSafety.show(token)}`, 'a stream lists at least one locator (d41d8cd98f00b204e9800998ecf8427e+0 for no data) before its files'))
    if (LOCATOR_START.test(token)) return E.left(error(line, index, 'a block locator after a file segment', 'list every locator of a stream before its file segments'))
    const s = parseSegment(token, line, index, streamSize)
    if (E.isLeft(s)) return s
    segments.push(s.right)
  }
  if (locators.length === 0) return E.left(error(line, 0, 'the stream has no block locator'))
  if (segments.length === 0) return E.left(error(line, 0, 'the stream has no file segment'))
  return E.right({ name: name.right, locators, segments })
}

/** Checked line by line (the first error wins); the fast reader below skips lines it accepts. */
const parseLineChecked = (text: string, line: number): E.Either<ManifestError, Stream> => {
  const raw = RAW_CONTROL.exec(text)
  if (raw !== null) {
    const token = text.slice(0, raw.index).split(' ').length
    return E.left(error(line, token, `raw control character ${JSON.stringify(raw[0])} (names must escape it as \\ooo)`))
  }
  const lone = LONE_SURROGATE.exec(text)
  if (lone !== null) {
    const token = text.slice(0, lone.index).split(' ').length
    return E.left(error(line, token, `a lone UTF-16 surrogate ${JSON.stringify(lone[0])}: the manifest is not valid UTF-8`, 'read the manifest as UTF-8 bytes'))
  }
  return parseLine(text, line)
}

/** One-character strings of the bytes an ASCII octal escape can give. */
const ASCII = Array.from({ length: 128 }, (_, b) => String.fromCharCode(b))

/** Character classes of ASCII code units for the fast reader: lowercase hex digit, locator hint character `[-A-Za-z0-9@_]`. */
const HEX = 1
const HINT = 2
const CLASSES = Uint8Array.from({ length: 128 }, (_, c) => ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) ? HEX : 0) | ((c >= 64 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 ? HINT : 0))
/** The hints of every locator read without any (shared: nothing may change it). */
const NO_HINTS: ReadonlyArray<string> = Object.freeze([])

const isClass = (c: number, k: number): boolean => c < 128 && ((CLASSES[c] ?? 0) & k) !== 0

/** Where the fast reader is in the text: `at` moves forward, `end` is the end of the line. */
interface Cursor {
  at: number
  end: number
}

/**
 * Reads a name token from `cur.at` to the next space or the end of the line: octal escapes of
 * ASCII bytes (NUL excluded) and `\\` decoded; every component of the decoded name non-empty,
 * not `.` or `..`; no raw control character, no surrogate. Undefined otherwise (an empty name
 * included), with the cursor left anywhere.
 */
const fastName = (text: string, cur: Cursor): string | undefined => {
  const from = cur.at
  const end = cur.end
  let out = ''
  let mark = from
  let escaped = false
  let componentLength = 0
  let dotsOnly = true
  let i = from
  while (i < end) {
    let c = text.charCodeAt(i)
    if (c === 32) break
    if (c === 92) {
      const c1 = text.charCodeAt(i + 1)
      let next: number
      if (c1 === 92) next = i + 2
      else {
        const c2 = text.charCodeAt(i + 2)
        const c3 = text.charCodeAt(i + 3)
        if (i + 3 >= end || c1 < 48 || c1 > 49 || c2 < 48 || c2 > 55 || c3 < 48 || c3 > 55) return undefined // not ASCII, or not an escape
        c = (c1 - 48) * 64 + (c2 - 48) * 8 + (c3 - 48)
        if (c === 0) return undefined
        next = i + 4
      }
      out += text.slice(mark, i) + (ASCII[c] ?? '')
      escaped = true
      mark = next
      i = next
    } else {
      if (c < 32 || c === 127 || (c >= 0xd800 && c <= 0xdfff)) return undefined
      i++
    }
    if (c === 47) {
      if (componentLength === 0 || (dotsOnly && componentLength <= 2)) return undefined
      componentLength = 0
      dotsOnly = true
    } else {
      componentLength++
      if (c !== 46) dotsOnly = false
    }
  }
  if (componentLength === 0 || (dotsOnly && componentLength <= 2)) return undefined
  cur.at = i
  return escaped ? out + text.slice(mark, i) : text.slice(from, i)
}

/**
 * Decimal digits from `cur.at` up to `stop` (or also a space or the end of the line, with
 * `orSpace`): canonical, at most 15 of them; -1 otherwise.
 */
const fastDigits = (text: string, cur: Cursor, stop: number, orSpace: boolean): number => {
  const from = cur.at
  const end = cur.end
  let n = 0
  let i = from
  for (; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c === stop || (orSpace && c === 32)) break
    if (c < 48 || c > 57) return -1
    n = n * 10 + (c - 48)
  }
  const count = i - from
  if (count === 0 || count > 15 || (count > 1 && text.charCodeAt(from) === 48) || (!orSpace && i === end)) return -1
  cur.at = i
  return n
}

/** Whether a locator starts at `cur.at`: 32 lowercase hex digits and `+`. */
const fastLocatorStart = (text: string, cur: Cursor): boolean => {
  const at = cur.at
  if (cur.end - at < 33 || text.charCodeAt(at + 32) !== 43) return false
  for (let i = at; i < at + 32; i++) if (!isClass(text.charCodeAt(i), HEX)) return false
  return true
}

/** A locator from `cur.at` (after `fastLocatorStart`): size 0..64 MiB, hints `[A-Z][-A-Za-z0-9@_]*`. */
const fastLocator = (text: string, cur: Cursor): Locator.Locator | undefined => {
  const end = cur.end
  const hash = text.slice(cur.at, cur.at + 32)
  cur.at += 33
  const size = fastDigits(text, cur, 43, true)
  if (size < 0 || size > Locator.MAX_BLOCK_SIZE) return undefined
  let at = cur.at
  let hints: Array<string> | undefined
  while (at < end && text.charCodeAt(at) === 43) {
    const from = ++at
    const first = text.charCodeAt(at)
    if (at >= end || first < 65 || first > 90) return undefined
    at++
    while (at < end && isClass(text.charCodeAt(at), HINT)) at++
    const hint = text.slice(from, at)
    if (hints === undefined) hints = [hint]
    else hints.push(hint)
  }
  if (at < end && text.charCodeAt(at) !== 32) return undefined
  cur.at = at
  return { hash, size, hints: hints ?? NO_HINTS }
}

/**
 * The fast reader of one line `text[cur.at, cur.end)`, in a single pass over its characters
 * without splitting it: it accepts only what `parseLineChecked` accepts with the same result
 * (plain names, octal escapes of ASCII bytes, canonical locators and segments) and answers
 * undefined for anything else, errors included; such a line is then read by
 * `parseLineChecked`. Every character of an accepted line was checked (none is a raw control
 * character).
 */
const fastLine = (text: string, cur: Cursor): Stream | undefined => {
  const start = cur.at
  const end = cur.end
  // the stream name: "." or "./" and a path
  let streamName: string | undefined
  if (text.charCodeAt(start) === 46 && (start + 1 === end || text.charCodeAt(start + 1) === 32)) {
    streamName = '.'
    cur.at++
  } else if (text.charCodeAt(start) === 46 && text.charCodeAt(start + 1) === 47) {
    cur.at += 2
    const rest = fastName(text, cur)
    if (rest === undefined) return undefined
    streamName = cur.at - start - 2 === rest.length ? text.slice(start, cur.at) : `./${rest}` // decoding shortens escapes
  } else return undefined

  const locators: Array<Locator.Locator> = []
  const segments: Array<Segment> = []
  let streamSize = 0
  while (cur.at < end) {
    const at = ++cur.at // the space before a token
    if (at >= end || text.charCodeAt(at) === 32) return undefined // empty token
    if (fastLocatorStart(text, cur)) {
      if (segments.length > 0) return undefined
      const l = fastLocator(text, cur)
      if (l === undefined) return undefined
      locators.push(l)
      streamSize += l.size
      continue
    }
    if (locators.length === 0) return undefined
    const position = fastDigits(text, cur, 58, false)
    if (position < 0) return undefined
    cur.at++
    const length = fastDigits(text, cur, 58, false)
    if (length < 0 || position + length > streamSize) return undefined
    cur.at++
    const file = fastName(text, cur)
    if (file === undefined) return undefined
    segments.push({ position, length, name: file })
  }
  if (segments.length === 0) return undefined
  return { name: streamName, locators, segments }
}

/**
 * Parses manifest text. The empty string is the empty manifest; otherwise the text must end
 * with a newline.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (text: string): E.Either<ManifestError, Manifest> => {
  if (text === '') return E.right(empty)
  if (text.charCodeAt(text.length - 1) !== 10) {
    let lines = 1
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++
    return E.left(error(lines, 0, 'the manifest does not end with a newline'))
  }
  const streams: Array<Stream> = []
  const cur: Cursor = { at: 0, end: 0 }
  let line = 0
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start)
    line++
    cur.at = start
    cur.end = end
    const fast = start < end ? fastLine(text, cur) : undefined
    if (fast !== undefined) streams.push(fast)
    else {
      const s = parseLineChecked(text.slice(start, end), line)
      if (E.isLeft(s)) return s
      streams.push(s.right)
    }
    start = end + 1
  }
  return E.right({ streams })
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Total bytes of a stream's blocks.
 *
 * @category destructors
 * @since 0.1.0
 */
export const streamSize = (s: Stream): number => s.locators.reduce((n, l) => n + l.size, 0)

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/** `\ooo` of the code units `escape` escapes (bytes 0-32, `:`, `\` and DEL), by code unit. */
const ESCAPED: ReadonlyArray<string | undefined> = Array.from({ length: 128 }, (_, c) => (c <= 32 || c === 58 || c === 92 || c === 127 ? `\\${c.toString(8).padStart(3, '0')}` : undefined))

/**
 * Escapes a name the way Arvados writers do: bytes 0-32, `:` and `\` as `\` + 3 octal
 * digits, and DEL (0x7f) too, which `parse` refuses raw like every control character;
 * everything else (non-ASCII included) raw. `/` is kept.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const escape = (name: string): string => {
  let out = ''
  let mark = 0
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c <= 32 || c === 58 || c === 92 || c === 127) {
      out += name.slice(mark, i) + (ESCAPED[c] ?? '')
      mark = i + 1
    }
  }
  return mark === 0 ? name : out + name.slice(mark)
}

/**
 * Prints one segment token.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const printSegment = (s: Segment): string => `${s.position}:${s.length}:${s.name === DIRECTORY_MARKER ? '\\056' : escape(s.name)}`

/**
 * Prints one stream line (with its newline).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const printStream = (s: Stream): string => {
  const parts: Array<string> = [escape(s.name)]
  for (const l of s.locators) parts.push(Locator.format(l))
  for (const seg of s.segments) parts.push(printSegment(seg))
  return `${parts.join(' ')}\n`
}

/**
 * Prints manifest text in canonical form.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const print = (m: Manifest): string => m.streams.map(printStream).join('')
