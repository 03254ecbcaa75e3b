/**
 * JSON as it crosses a work boundary: the `Json` type, a check that a value is plain JSON
 * (reporting where it is not and what kind of value was found), canonical text for hashing
 * (sorted keys), and a parse that keeps `__proto__`/`constructor` keys as plain data.
 *
 * @internal
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'

/** @since 0.1.0 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [k: string]: Json }

/** A path step: array index or record key. @since 0.1.0 */
export type PathStep = number | string

/** Where a value stops being JSON, and what was found there. @since 0.1.0 */
export interface NotJson {
  readonly path: ReadonlyArray<PathStep>
  readonly found: string
}

/**
 * Renders a path as `reads[2].name` (root is `(root)`).
 *
 * @since 0.1.0
 */
export const dotPath = (path: ReadonlyArray<PathStep>): string => {
  if (path.length === 0) return '(root)'
  let out = ''
  for (const step of path) {
    if (typeof step === 'number') out += `[${step}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(step)) out += out === '' ? step : `.${step}`
    else out += `[${JSON.stringify(step)}]`
  }
  return out
}

/**
 * Finds the first place where `u` is not plain JSON: undefined (in arrays, or as the value;
 * an undefined record field is fine, JSON omits it),
 * NaN, ±Infinity, BigInt, functions, symbols, cycles, and objects that are not plain records
 * or arrays (class instances, Map, Date...), and nesting deeper than `MAX_DEPTH` (every walk
 * over a value recurses: deeper values are refused here, before any walk could overflow the
 * stack). Returns undefined when `u` is plain JSON.
 *
 * @since 0.1.0
 */
export const findNonJson = (u: unknown): NotJson | undefined => {
  const seen = new Set<object>()
  const path: Array<PathStep> = []
  const walk = (v: unknown): NotJson | undefined => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return undefined
      case 'number':
        return Number.isFinite(v) ? undefined : { path: [...path], found: Errors.kindOf(v) }
      case 'object': {
        if (v === null) return undefined
        if (path.length >= MAX_DEPTH) return { path: path.slice(0, 8), found: `arrays or objects nested deeper than the limit of ${MAX_DEPTH} levels` }
        if (seen.has(v)) return { path: [...path], found: 'a cycle (an object that contains itself)' }
        const proto: unknown = Object.getPrototypeOf(v)
        if (Array.isArray(v)) {
          seen.add(v)
          for (let i = 0; i < v.length; i++) {
            path.push(i)
            const r = walk(v[i])
            path.pop()
            if (r !== undefined) return r
          }
          seen.delete(v)
          return undefined
        }
        if (proto !== Object.prototype && proto !== null) return { path: [...path], found: Errors.kindOf(v) }
        seen.add(v)
        for (const k of Object.keys(v)) {
          const field = (v as Record<string, unknown>)[k]
          if (field === undefined) continue // JSON omits it, as an absent optional field
          path.push(k)
          const r = walk(field)
          path.pop()
          if (r !== undefined) return r
        }
        seen.delete(v)
        return undefined
      }
      default:
        return { path: [...path], found: v === undefined ? 'undefined' : typeof v }
    }
  }
  return walk(u)
}

/**
 * Canonical JSON text: object keys sorted, no whitespace. Input must already be plain JSON.
 *
 * @since 0.1.0
 */
export const canonical = (v: unknown): string => {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  const rec = v as Record<string, unknown>
  const keys = Object.keys(rec).sort()
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    out += `${i === 0 ? '' : ','}${JSON.stringify(k)}:${canonical(rec[k])}`
  }
  return out + '}'
}

/**
 * Parses JSON text. `JSON.parse` already makes `__proto__` an own data property (it never sets
 * a prototype); this wrapper exists so every boundary parse goes through one place.
 *
 * @since 0.1.0
 */
export const parse = (text: string): unknown => JSON.parse(text)

/**
 * The deepest nesting of arrays and objects `parseBounded` accepts. Deeper JSON is refused
 * before it is parsed: every walk over a value (checks, canonical text, codecs) recurses.
 *
 * @since 0.1.0
 */
export const MAX_DEPTH = 256

/**
 * How deeply `text` nests arrays and objects, scanning at most to `stopAt` (then returns
 * `stopAt + 1`). Strings are skipped; the text need not be valid JSON.
 *
 * @since 0.1.0
 */
export const depthOf = (text: string, stopAt = Number.MAX_SAFE_INTEGER): number => {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      depth++
      if (depth > max) {
        max = depth
        if (max > stopAt) return max
      }
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return max
}

/**
 * Parses JSON text as a value: Left (a one-line reason) for text that is not JSON, that
 * nests deeper than `maxDepth` (checked before parsing) or holds a number too large for a
 * double (JSON.parse would read it as Infinity, which no codec can send on). Never throws.
 *
 * @since 0.1.0
 */
export const parseBounded = (text: string, maxDepth = MAX_DEPTH): E.Either<string, unknown> => {
  if (opensMoreThan(text, maxDepth) && depthOf(text, maxDepth) > maxDepth) return E.left(`JSON nested deeper than the limit of ${maxDepth} levels`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return E.left(`not valid JSON: ${e instanceof Error ? e.message.split('\n')[0] : 'unknown reason'}`)
  }
  // a number literal beyond ±1.8e308 parses as ±Infinity, which is not JSON: only a literal with
  // an exponent of 3 digits or 200 digits before it can do that, so the walk runs only when the
  // text seems to have one (a string can look like one too: then the walk finds nothing)
  if (MAY_OVERFLOW.test(text)) {
    const bad = findNonJson(value)
    if (bad !== undefined) return E.left(`a number at ${dotPath(bad.path)} is too large for a double (it reads as ${bad.found}); write it as a string or scale it`)
  }
  return E.right(value)
}

const MAY_OVERFLOW = /(?:^|[:,[])\s*-?(?:\d+(?:\.\d*)?[eE]\+?\d{3}|\d{200})/

/**
 * Whether `text` has more than `n` opening brackets: when it has not, it cannot nest deeper
 * than `n`, and the character-by-character depth scan (which cost more than JSON.parse on an
 * API list of 100 records) is skipped. Counting goes through `indexOf`, a few µs for 50 KB.
 */
const opensMoreThan = (text: string, n: number): boolean => {
  let count = 0
  for (const open of ['{', '[']) {
    for (let i = text.indexOf(open); i >= 0; i = text.indexOf(open, i + 1)) if (++count > n) return true
  }
  return false
}
