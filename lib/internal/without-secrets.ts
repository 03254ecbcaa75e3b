/**
 * A JSON value with every secret left out: `Secret(c)` encodes as `{"~secret": …}` (lib/codec.ts),
 * which becomes the text `(secret)`. For what is shown or recorded about a run (its params in a
 * report, on an output's properties); never the values themselves.
 *
 * @since 0.2.0
 */
import type * as Json from './json.js'

/** the key of an encoded secret */
export const SECRET_KEY = '~secret'

/** what a secret is shown as */
export const HIDDEN = '(secret)'

/**
 * @category utils
 * @since 0.2.0
 */
export const withoutSecrets = (value: unknown): Json.Json => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (Array.isArray(value)) return value.map(withoutSecrets)
  if (typeof value === 'object') {
    if (Object.prototype.hasOwnProperty.call(value, SECRET_KEY)) return HIDDEN
    const out: Record<string, Json.Json> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutSecrets(v)
    return out
  }
  return null
}
