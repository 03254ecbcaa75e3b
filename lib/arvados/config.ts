/**
 * Client configuration as Arvados users already have it: the `ARVADOS_*` environment
 * variables and `~/.config/arvados/settings.conf` (`KEY=VALUE` lines, `#` comments).
 * Precedence is the official clients': the settings file is read first and every
 * `ARVADOS_*` environment variable that is set (even to an empty string) overrides it.
 *
 * Pure: works on an env *record* and the file's *text*. Reading the file and the CA bundle
 * is done by `lib/arvados/config-file.ts`; only `lib/cli.ts` reads `process.env`.
 *
 * The token is kept on a non-enumerable property, so printing or JSON-encoding a `Config`
 * never shows it.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Everything a client needs to reach a cluster.
 *
 * - `apiHost`: `host[:port]` of the API server (an `https://` prefix is tolerated and dropped).
 * - `apiToken`: the token (non-enumerable: hidden from `JSON.stringify` and `util.inspect`).
 * - `insecure`: `true` only when `ARVADOS_API_HOST_INSECURE` is a true flag; TLS verification
 *   is on otherwise.
 * - `ca`: PEM text of the CA bundle to trust instead of Node's built-in roots (see
 *   `caBundlePaths`), when one was found or given.
 * - `keepServices`: base URLs from `ARVADOS_KEEP_SERVICES`, which replace the services the
 *   API lists.
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  readonly apiHost: string
  readonly apiToken: string
  readonly insecure: boolean
  readonly ca?: string
  readonly keepServices?: ReadonlyArray<string>
}

/**
 * An environment record (what `lib/cli.ts` passes from `process.env`).
 *
 * @category models
 * @since 0.1.0
 */
export type Env = Readonly<Record<string, string | undefined>>

/**
 * @category models
 * @since 0.1.0
 */
export type ConfigError = Errors.SdkError & {
  readonly _tag: 'ConfigError'
  readonly missing: ReadonlyArray<string>
  readonly source: string
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The CA bundle locations the official Python SDK searches, in order, after `SSL_CERT_FILE`.
 * `/etc/arvados/ca-certificates.crt` is where crunch-run mounts the host bundle inside a
 * container.
 *
 * @category constants
 * @since 0.1.0
 */
export const CA_BUNDLE_PATHS: ReadonlyArray<string> = [
  '/etc/arvados/ca-certificates.crt',
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
]

const TRUE_FLAGS: ReadonlySet<string> = new Set(['1', 't', 'true', 'y', 'yes'])

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A `ConfigError` (`ARV_CONFIG`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const error = (message: string, fields: { readonly missing?: ReadonlyArray<string>; readonly source: string }, hint?: string): ConfigError =>
  Errors.make('ConfigError', 'ARV_CONFIG', message, { missing: fields.missing ?? [], source: fields.source }, hint === undefined ? {} : { hint })

/**
 * Builds a `Config`, hiding the token from enumeration.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (fields: {
  readonly apiHost: string
  readonly apiToken: string
  readonly insecure?: boolean
  readonly ca?: string | undefined
  readonly keepServices?: ReadonlyArray<string> | undefined
}): Config => {
  const config = {
    apiHost: normalizeHost(fields.apiHost),
    insecure: fields.insecure ?? false,
    ...(fields.ca === undefined ? {} : { ca: fields.ca }),
    ...(fields.keepServices === undefined || fields.keepServices.length === 0 ? {} : { keepServices: fields.keepServices }),
  }
  Object.defineProperty(config, 'apiToken', { value: fields.apiToken, enumerable: false, writable: false })
  return Object.freeze(config) as Config
}

// -------------------------------------------------------------------------------------
// parsing
// -------------------------------------------------------------------------------------

/**
 * Parses settings.conf text: `KEY=VALUE` per line (split at the first `=`; the value keeps
 * everything after it, trailing whitespace removed), blank lines and `#` comments skipped.
 * A line without `=` is an error naming the file and line (never the line's text, which
 * may hold a token).
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseSettings = (text: string, source = 'settings.conf'): E.Either<ConfigError, Readonly<Record<string, string>>> => {
  const out: Record<string, string> = {}
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trimEnd()
    if (/^\s*(#|$)/.test(line)) continue
    const eq = line.indexOf('=')
    if (eq <= 0) {
      return E.left(
        error(`${source} line ${i + 1} is not KEY=VALUE`, { source }, 'write each setting as NAME=value on its own line, e.g. ARVADOS_API_HOST=zzzzz.example.com'),
      )
    }
    out[line.slice(0, eq).trim()] = line.slice(eq + 1)
  }
  return E.right(out)
}

/**
 * Merges the settings file with the environment the way the official clients do: the file
 * first, then every `ARVADOS_*` variable present in `env` (even an empty one) on top.
 *
 * @category parsing
 * @since 0.1.0
 */
export const merge = (settings: Readonly<Record<string, string>>, env: Env): Readonly<Record<string, string>> => {
  const out: Record<string, string> = { ...settings }
  for (const [k, v] of Object.entries(env)) if (k.startsWith('ARVADOS_') && v !== undefined) out[k] = v
  return out
}

/**
 * `true` for the flag spellings the official SDK accepts (`1`, `t`, `true`, `y`, `yes`, any case).
 *
 * @category parsing
 * @since 0.1.0
 */
export const isTrueFlag = (value: string | undefined): boolean => value !== undefined && TRUE_FLAGS.has(value.trim().toLowerCase())

/**
 * Turns merged settings into a `Config`, or a `ConfigError` naming every missing setting and
 * where it was looked for.
 *
 * @category parsing
 * @since 0.1.0
 */
export const fromSettings = (
  settings: Readonly<Record<string, string>>,
  where: { readonly settingsPath?: string | undefined; readonly ca?: string | undefined } = {},
): E.Either<ConfigError, Config> => {
  const host = (settings['ARVADOS_API_HOST'] ?? '').trim()
  const token = (settings['ARVADOS_API_TOKEN'] ?? '').trim()
  const missing = [...(host === '' ? ['ARVADOS_API_HOST'] : []), ...(token === '' ? ['ARVADOS_API_TOKEN'] : [])]
  const source = where.settingsPath === undefined ? 'the environment' : `the environment or ${where.settingsPath}`
  if (missing.length > 0) {
    return E.left(
      error(
        `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set (looked in ${source})`,
        { missing, source },
        'export ARVADOS_API_HOST and ARVADOS_API_TOKEN (e.g. from Workbench, "Get API token"), or write them as KEY=value lines in ~/.config/arvados/settings.conf',
      ),
    )
  }
  if (/^http:\/\//i.test(host)) {
    return E.left(error('ARVADOS_API_HOST must name an https server (got an http:// URL)', { source }, 'set ARVADOS_API_HOST to host[:port] without a scheme'))
  }
  if (/\s/.test(token)) return E.left(error('ARVADOS_API_TOKEN contains whitespace', { source }, 'copy the token again without spaces or line breaks'))
  const keepServices = (settings['ARVADOS_KEEP_SERVICES'] ?? '').split(/\s+/).filter((s) => s !== '')
  return E.right(make({ apiHost: host, apiToken: token, insecure: isTrueFlag(settings['ARVADOS_API_HOST_INSECURE']), ca: where.ca, keepServices }))
}

/**
 * The whole pure pipeline: settings text (when a file was found) plus env record → `Config`.
 *
 * @category parsing
 * @since 0.1.0
 */
export const resolve = (input: {
  readonly env: Env
  readonly settingsText?: string | undefined
  readonly settingsPath?: string | undefined
  readonly ca?: string | undefined
}): E.Either<ConfigError, Config> => {
  const parsed = input.settingsText === undefined ? E.right({}) : parseSettings(input.settingsText, input.settingsPath)
  if (E.isLeft(parsed)) return parsed
  return fromSettings(merge(parsed.right, input.env), { settingsPath: input.settingsPath, ca: input.ca })
}

// -------------------------------------------------------------------------------------
// locations
// -------------------------------------------------------------------------------------

/**
 * Where settings.conf is searched, first match wins: `$XDG_CONFIG_HOME/arvados` (default
 * `<home>/.config/arvados`), then each of `$XDG_CONFIG_DIRS` (default `/etc/xdg`).
 *
 * @category locations
 * @since 0.1.0
 */
export const settingsPaths = (env: Env, home: string | undefined): ReadonlyArray<string> => {
  const xdgHome = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : home === undefined || home === '' ? undefined : `${home}/.config`
  const dirs = (env['XDG_CONFIG_DIRS'] !== undefined && env['XDG_CONFIG_DIRS'] !== '' ? env['XDG_CONFIG_DIRS'] : '/etc/xdg').split(':').filter((d) => d.startsWith('/'))
  return [...(xdgHome === undefined ? [] : [xdgHome]), ...dirs].map((d) => `${d.replace(/\/+$/, '')}/arvados/settings.conf`)
}

/**
 * The CA bundle search order: `SSL_CERT_FILE` when set, then `CA_BUNDLE_PATHS`.
 *
 * @category locations
 * @since 0.1.0
 */
export const caBundlePaths = (env: Env): ReadonlyArray<string> => {
  const explicit = env['SSL_CERT_FILE']
  return [...(explicit === undefined || explicit === '' ? [] : [explicit]), ...CA_BUNDLE_PATHS]
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * `host[:port]` without scheme or trailing slash.
 *
 * @category utils
 * @since 0.1.0
 */
export const normalizeHost = (host: string): string => host.trim().replace(/^https:\/\//i, '').replace(/\/+$/, '')

/**
 * The API base URL, `https://<host>/arvados/v1/`.
 *
 * @category utils
 * @since 0.1.0
 */
export const baseUrl = (config: Config): string => `https://${config.apiHost}/arvados/v1/`
