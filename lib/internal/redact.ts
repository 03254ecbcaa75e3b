/**
 * The one redaction rule for every line the SDK prints or writes. A redactor is built from a
 * list of secret strings (today the configured API token; `Secret` values can join the list)
 * and removes from a text:
 *
 * - each secret in every form it travels in: whole; for an Arvados v2 token
 *   (`v2/<uuid>/<secret>`) its secret segment alone (a bare token, which Arvados also accepts,
 *   is its own secret segment); URL-encoded (`%2F`, either case; `+` for spaces); JSON with
 *   escaped slashes (`v2\/…`);
 * - anything shaped like a token even when not configured: `v2/<uuid>/<secret>`, `Bearer …`,
 *   `OAuth2 …`, and the value after `api_token=`, `ARVADOS_API_TOKEN=` or `token:`.
 *
 * Pure: no process, no I/O.
 *
 * @internal
 * @since 0.1.0
 */

/**
 * A redactor: text in, the same text with every secret form replaced by `[REDACTED]`.
 *
 * @since 0.1.0
 */
export type Redactor = (text: string) => string

/** What replaces a secret. @since 0.1.0 */
export const MARK = '[REDACTED]'

/** Secrets shorter than this are not matched verbatim (they would hit ordinary text). @since 0.1.0 */
export const MIN_SECRET_LENGTH = 6

const V2 = /^v2\/([a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15})\/(.+)$/

const PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  // Arvados v2 tokens: v2/<uuid>/<secret> (also URL-encoded or with JSON-escaped slashes)
  [/v2(?:\/|%2[Ff]|\\\/)[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}(?:\/|%2[Ff]|\\\/)[A-Za-z0-9]+/g, `v2/${MARK}`],
  // Authorization header values
  [/(Bearer|OAuth2)\s+[A-Za-z0-9/+=_.%-]+/g, `$1 ${MARK}`],
  // a token in a query string or in key=value / key: value text
  [/((?:api_token|ARVADOS_API_TOKEN|token)\s*[=:]\s*)[^\s&"']+/gi, `$1${MARK}`],
]

/**
 * Every form one secret may travel in (longest first), without duplicates.
 *
 * @since 0.1.0
 */
export const forms = (secret: string): ReadonlyArray<string> => {
  const out = new Set<string>()
  const add = (s: string): void => {
    if (s.length < MIN_SECRET_LENGTH) return
    out.add(s)
    const enc = encodeURIComponent(s)
    out.add(enc)
    out.add(enc.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()))
    out.add(s.replace(/\//g, '\\/'))
  }
  add(secret)
  const v2 = V2.exec(secret)
  if (v2 !== null) add(v2[2]!)
  return [...out].sort((a, b) => b.length - a.length)
}

/**
 * A redactor for `secrets` (empty strings and short ones are ignored) plus the token patterns.
 *
 * @since 0.1.0
 */
export const make = (secrets: ReadonlyArray<string> = []): Redactor => {
  const all = [...new Set(secrets.flatMap(forms))].sort((a, b) => b.length - a.length)
  return (text) => {
    let out = text
    for (const s of all) if (out.includes(s)) out = out.split(s).join(MARK)
    for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement)
    return out
  }
}

/**
 * A redactor that applies `a` then `b` (e.g. the token's, then a run's `Secret` values').
 *
 * @since 0.1.0
 */
export const both =
  (a: Redactor, b: Redactor): Redactor =>
  (text) =>
    b(a(text))
