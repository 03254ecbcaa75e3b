/**
 * Portable data hash: the md5 of the manifest text *as given* with every locator hint except
 * the size removed (signatures, `+K@` location hints, …), then `+` and the byte length of that
 * stripped text. File tokens, stream names and whitespace are left alone; the text is not
 * normalized first (two orderings of the same files have different hashes, as in Arvados).
 * Pure; uses node:crypto md5 only.
 *
 * @since 0.1.0
 */
import { createHash } from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type PdhError = Errors.SdkError & { readonly _tag: 'PdhError'; readonly received: string }

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The portable data hash of the empty collection.
 *
 * @category constants
 * @since 0.1.0
 */
export const EMPTY = 'd41d8cd98f00b204e9800998ecf8427e+0'

const PDH = /^[0-9a-f]{32}\+(0|[1-9][0-9]*)$/
// a locator token: preceded by a space, 32 hex + size, then hints, then a token boundary
const HINTED_LOCATOR = / ([0-9a-f]{32}\+[0-9]+)(?:\+[A-Z][-A-Za-z0-9@_]*)+(?=[ \n]|$)/g
// every match of HINTED_LOCATOR holds one: text without it has nothing to strip (checked ~10x faster)
const HINT_START = /\+[A-Z]/

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Whether `s` has the shape `<32 lowercase hex>+<size>`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPdh = (s: string): boolean => PDH.test(s)

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Checks the shape of a portable data hash.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (s: string): E.Either<PdhError, string> =>
  isPdh(s)
    ? E.right(s)
    : E.left(
        Errors.make('PdhError', 'ARV_PDH', `${JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s)} is not a portable data hash`, { received: s.slice(0, 80) }, {
          hint: 'a portable data hash is <32 lowercase hex md5>+<manifest length>, e.g. d41d8cd98f00b204e9800998ecf8427e+0',
        }),
      )

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The manifest text with every locator hint other than the size removed.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const portableText = (manifestText: string): string => (HINT_START.test(manifestText) ? manifestText.replace(HINTED_LOCATOR, ' $1') : manifestText)

/**
 * md5 hex of UTF-8 text.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const md5 = (text: string | Uint8Array): string => createHash('md5').update(text).digest('hex')

/**
 * The portable data hash of manifest text, computed over the text as given.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const of = (manifestText: string): string => {
  const portable = portableText(manifestText)
  return `${md5(portable)}+${Buffer.byteLength(portable, 'utf8')}`
}
