/**
 * Blob signatures as the real cluster makes them (ARVADOS-FACTS §10): `+A<40 hex>@<8 hex expiry>`,
 * the hex being HMAC-SHA1(key, `<md5>@<token>@<expiry hex>@<ttl hex>`). For v2 tokens
 * (`v2/<uuid>/<secret>[/<container>]`) the secret part is what is signed.
 */
import * as Crypto from 'node:crypto'

/** The part of a token that enters a signature. */
export const tokenSecret = (token: string): string => (token.startsWith('v2/') ? (token.split('/')[2] ?? token) : token)

const signature = (key: string, md5: string, token: string, expiryHex: string, ttl: number): string =>
  Crypto.createHmac('sha1', key).update(`${md5}@${tokenSecret(token)}@${expiryHex}@${ttl.toString(16)}`).digest('hex')

/** Adds a `+A` hint (after stripping any old one) valid until `expiry` (unix seconds). */
export const sign = (locator: string, key: string, token: string, expiry: number, ttl: number): string => {
  const parts = locator.split('+').filter((h, i) => i === 0 || !h.startsWith('A'))
  const hex = Math.floor(expiry).toString(16).padStart(8, '0')
  return [...parts, `A${signature(key, parts[0] ?? '', token, hex, ttl)}@${hex}`].join('+')
}

/** Outcome of checking a locator's signature for a token at a time. */
export type Check = 'ok' | 'missing' | 'expired' | 'invalid'

export const check = (locator: string, key: string, token: string, nowSeconds: number, ttl: number): Check => {
  const hint = locator.split('+').find((h, i) => i > 0 && h.startsWith('A'))
  if (hint === undefined) return 'missing'
  const m = /^A([0-9a-f]{40})@([0-9a-f]{8})$/.exec(hint)
  if (m === null) return 'invalid'
  const [, sig, hex] = m as unknown as [string, string, string]
  const want = signature(key, locator.slice(0, 32), token, hex, ttl)
  if (!Crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(want))) return 'invalid'
  return parseInt(hex, 16) < nowSeconds ? 'expired' : 'ok'
}
