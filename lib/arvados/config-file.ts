/**
 * The effectful half of configuration: finds and reads settings.conf and the CA bundle,
 * then hands the texts to the pure `Config.resolve`. Takes the env record and the home
 * directory explicitly (only `lib/cli.ts` reads `process`).
 *
 * @since 0.1.0
 */
import * as FsSync from 'node:fs'
import * as Fs from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import * as Config from './config.js'

const readIfPresent = async (path: string): Promise<E.Either<NodeJS.ErrnoException, string | undefined>> => {
  try {
    return E.right(await Fs.readFile(path, 'utf8'))
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    return err.code === 'ENOENT' || err.code === 'ENOTDIR' ? E.right(undefined) : E.left(err)
  }
}

/**
 * The first readable file among `paths` (missing files are skipped; any other read error,
 * e.g. permission denied, is a `ConfigError` naming the file).
 *
 * @category effects
 * @since 0.1.0
 */
export const readFirst =
  (paths: ReadonlyArray<string>): TE.TaskEither<Config.ConfigError, { readonly path: string; readonly text: string } | undefined> =>
  async () => {
    for (const path of paths) {
      const r = await readIfPresent(path)
      if (E.isLeft(r)) {
        return E.left(Config.error(`cannot read ${path}: ${r.left.code ?? r.left.message}`, { source: path }, 'fix the file permissions or remove the file'))
      }
      if (r.right !== undefined) return E.right({ path, text: r.right })
    }
    return E.right(undefined)
  }

/**
 * Loads the configuration the way the official clients do: settings.conf (first of
 * `Config.settingsPaths(env, home)`), `ARVADOS_*` variables on top, and the CA bundle from
 * `options.ca` (PEM text) or the first of `Config.caBundlePaths(env)` that exists (none:
 * Node's built-in roots are used).
 *
 * @category effects
 * @since 0.1.0
 */
export const load =
  (env: Config.Env, home: string | undefined, options: { readonly ca?: string } = {}): TE.TaskEither<Config.ConfigError, Config.Config> =>
  async () => {
    const settings = await readFirst(Config.settingsPaths(env, home))()
    if (E.isLeft(settings)) return settings
    let ca = options.ca
    if (ca === undefined) {
      const bundle = await readFirst(Config.caBundlePaths(env))()
      if (E.isLeft(bundle)) return bundle
      ca = bundle.right?.text
    }
    return Config.resolve({ env, settingsText: settings.right?.text, settingsPath: settings.right?.path, ca })
  }

/**
 * The API tokens a program's output must never show: `ARVADOS_API_TOKEN` and the token of the
 * first settings.conf (read synchronously, once, by the CLI when it starts). Unreadable files
 * give nothing (the run itself reports them).
 *
 * @category effects
 * @since 0.1.0
 */
export const secrets = (env: Config.Env, home: string | undefined): ReadonlyArray<string> => {
  const out: Array<string> = []
  const fromEnv = env['ARVADOS_API_TOKEN']
  if (fromEnv !== undefined && fromEnv !== '') out.push(fromEnv)
  for (const path of Config.settingsPaths(env, home)) {
    let text: string
    try {
      text = FsSync.readFileSync(path, 'utf8')
    } catch {
      continue
    }
    const parsed = Config.parseSettings(text, path)
    const token = E.isRight(parsed) ? parsed.right['ARVADOS_API_TOKEN'] : undefined
    if (token !== undefined && token !== '') out.push(token)
    break
  }
  return out
}
