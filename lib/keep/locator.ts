/**
 * Keep block locators: `<32 lowercase hex md5>+<size>` followed by hints `+<A-Z>…`
 * (`+A<sig>@<hex expiry>` permission signature, `+R<cluster>-<sig>@<hex expiry>` remote
 * signature, `+K@<cluster or service>` location hint, and others kept verbatim).
 * Pure: parse, format, and the two transformations Arvados applies (strip signatures before
 * storing, strip every hint but the size before computing a portable data hash).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A parsed block locator. `hints` excludes the size hint and keeps the others in order,
 * without their leading `+` (e.g. `A0123…@65f0a1b2`, `K@xyzzy`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Locator {
  readonly hash: string
  readonly size: number
  readonly hints: ReadonlyArray<string>
}

/**
 * A permission signature hint (`+A<sig>@<expiry>`): the signature and its expiry in unix
 * seconds (the hint carries it as hex).
 *
 * @category models
 * @since 0.1.0
 */
export interface Signature {
  readonly signature: string
  readonly expiresAt: number
}

/**
 * @category models
 * @since 0.1.0
 */
export type LocatorError = Errors.SdkError & { readonly _tag: 'LocatorError'; readonly locator: string }

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The largest block Keep stores: 64 MiB (keepstore answers 413 above it).
 *
 * @category constants
 * @since 0.1.0
 */
export const MAX_BLOCK_SIZE = 67_108_864

/**
 * md5 of zero bytes.
 *
 * @category constants
 * @since 0.1.0
 */
export const EMPTY_BLOCK_HASH = 'd41d8cd98f00b204e9800998ecf8427e'

/**
 * The locator of the empty block, `d41d8cd98f00b204e9800998ecf8427e+0`.
 *
 * @category constants
 * @since 0.1.0
 */
export const EMPTY_BLOCK: Locator = { hash: EMPTY_BLOCK_HASH, size: 0, hints: [] }

const HASH = /^[0-9a-f]{32}$/
const SIZE = /^(0|[1-9][0-9]{0,19})$/
const HINT = /^[A-Z][-A-Za-z0-9@_]*$/
const FAST = /^([0-9a-f]{32})\+(0|[1-9][0-9]{0,7})((?:\+[A-Z][-A-Za-z0-9@_]*)*)$/
const SIGNATURE_HINT = /^A([0-9a-f]{40})@([0-9a-f]{8})$/

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const shown = (text: string): string => (text.length > 80 ? `${text.slice(0, 77)}...` : text)

/**
 * @category constructors
 * @since 0.1.0
 */
export const error = (locator: string, message: string, hint?: string): LocatorError =>
  Errors.make('LocatorError', 'ARV_LOCATOR', `malformed block locator ${JSON.stringify(shown(locator))}: ${message}`, { locator: shown(locator) }, {
    hint: hint ?? 'a locator is <32 lowercase hex md5>+<size in bytes>, optionally followed by +<Hint> parts',
  })

/**
 * Parses a locator. The size is required and at most 64 MiB; hints must start with an
 * upper-case letter and use only `[-A-Za-z0-9@_]`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (text: string): E.Either<LocatorError, Locator> => {
  const fast = FAST.exec(text)
  if (fast !== null) {
    const size = Number(fast[2])
    const hints = fast[3] ?? ''
    if (size <= MAX_BLOCK_SIZE) return E.right({ hash: fast[1] ?? '', size, hints: hints === '' ? [] : hints.slice(1).split('+') })
  }
  const parts = text.split('+')
  const hash = parts[0] ?? ''
  if (!HASH.test(hash)) return E.left(error(text, 'the hash is not 32 lowercase hexadecimal digits'))
  const sizeText = parts[1]
  if (sizeText === undefined) return E.left(error(text, 'the size hint is missing'))
  if (!SIZE.test(sizeText)) return E.left(error(text, `the size ${JSON.stringify(shown(sizeText))} is not a decimal number of bytes`))
  const size = Number(sizeText)
  if (size > MAX_BLOCK_SIZE) return E.left(error(text, `the size ${sizeText} is larger than the largest Keep block (${MAX_BLOCK_SIZE} bytes)`, 'Keep blocks are at most 64 MiB'))
  const hints = parts.slice(2)
  for (const [i, h] of hints.entries()) {
    if (!HINT.test(h)) return E.left(error(text, `hint ${i + 1} ${JSON.stringify(shown(h))} is not a letter A-Z followed by [-A-Za-z0-9@_]`))
  }
  return E.right({ hash, size, hints })
}

/**
 * Builds a locator for `size` bytes whose md5 is `hash`, with no hints.
 *
 * @category constructors
 * @since 0.1.0
 */
export const of = (hash: string, size: number): Locator => ({ hash, size, hints: [] })

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Whether `text` parses as a locator.
 *
 * @category guards
 * @since 0.1.0
 */
export const isLocatorText = (text: string): boolean => E.isRight(parse(text))

/**
 * @category guards
 * @since 0.1.0
 */
export const isEmptyBlock = (l: Locator): boolean => l.size === 0 && l.hash === EMPTY_BLOCK_HASH

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * Removes the `+A` permission signatures (what the API server does before storing a manifest).
 * Other hints, remote `+R` signatures included, are kept.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withoutSignature = (l: Locator): Locator =>
  l.hints.some((h) => h.startsWith('A')) ? { hash: l.hash, size: l.size, hints: l.hints.filter((h) => !h.startsWith('A')) } : l

/**
 * Keeps only the hash and size: the form used when computing a portable data hash.
 *
 * @category combinators
 * @since 0.1.0
 */
export const stripForPdh = (l: Locator): Locator => (l.hints.length === 0 ? l : { hash: l.hash, size: l.size, hints: [] })

/**
 * Adds (or replaces) the `+A` permission signature.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withSignature = (l: Locator, s: Signature): Locator => ({
  hash: l.hash,
  size: l.size,
  hints: [`A${s.signature}@${s.expiresAt.toString(16).padStart(8, '0')}`, ...withoutSignature(l).hints],
})

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The `+A<40 hex>@<8 hex>` permission signature, when the locator carries one.
 *
 * @category destructors
 * @since 0.1.0
 */
export const signature = (l: Locator): Signature | undefined => {
  for (const h of l.hints) {
    const m = SIGNATURE_HINT.exec(h)
    if (m !== null) return { signature: m[1] ?? '', expiresAt: parseInt(m[2] ?? '0', 16) }
  }
  return undefined
}

/**
 * The `+K@…` location hints (a 5-character cluster id or a keep service uuid).
 *
 * @category destructors
 * @since 0.1.0
 */
export const locationHints = (l: Locator): ReadonlyArray<string> => l.hints.filter((h) => h.startsWith('K@')).map((h) => h.slice(2))

/**
 * `<hash>+<size>` without any hint.
 *
 * @category destructors
 * @since 0.1.0
 */
export const key = (l: Locator): string => `${l.hash}+${l.size}`

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Prints a locator: `<hash>+<size>` then `+<hint>` for each hint in order.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const format = (l: Locator): string => (l.hints.length === 0 ? key(l) : `${key(l)}+${l.hints.join('+')}`)
