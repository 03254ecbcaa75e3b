/**
 * Making a code identity table. The module graph is the one esbuild sees when it bundles the
 * script (`graphOptions`: the crunch bundle's options with packages left external), read from
 * its metafile; each local source file is hashed in a normalized form — esbuild's per-file
 * transform of the *original* source with `minifyWhitespace` and no legal comments — so editing
 * comments or whitespace changes nothing, while any change of code does. An imported package
 * counts as its `name@version` (from the package.json node would resolve), not its files.
 *
 * `ofScript` gives the identity of a script: read back from a bundle (which embeds its table:
 * inside a container there are no sources and no esbuild), or computed from the sources.
 *
 * esbuild is loaded only when computing (never inside a container).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as NodeModule from 'node:module'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Esbuild from 'esbuild'
import * as Errors from '../errors.js'
import type * as Module from '../module.js'
import * as Identity from './identity.js'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

// node's `require` for CommonJS dependencies inside an ESM bundle
const BANNER = "import { createRequire as __arvadosCrunchRequire } from 'node:module';\nconst require = __arvadosCrunchRequire(import.meta.url);"

const LOADERS: Readonly<Record<string, Esbuild.Loader>> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'jsx', '.json': 'json' }

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const identityError = (script: string, message: string, cause?: unknown) =>
  Errors.make('IdentityError', 'ARV_IDENTITY', `cannot compute the code identity of ${script}: ${message}`, { script }, {
    hint: 'the script and what it imports must build with esbuild (it is installed with arvados-crunch); until then call ids cover only each implementation\'s own text',
    ...(cause === undefined ? {} : { cause }),
  })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The nearest directory at or above the script's that has a package.json (else the script's).
 *
 * @category utils
 * @since 0.1.0
 */
export const projectRoot = (script: string): string => {
  const start = Path.dirname(Path.resolve(script))
  for (let dir = start; ; dir = Path.dirname(dir)) {
    if (Fs.existsSync(Path.join(dir, 'package.json'))) return dir
    if (Path.dirname(dir) === dir) return start
  }
}

/**
 * How the script is bundled: for the crunch bundle and for the module graph of its identity,
 * so both see the same files under the same keys (paths relative to the project root).
 *
 * @category utils
 * @since 0.1.0
 */
export const bundleOptions = (script: string) => {
  const real = realOrResolved(script)
  return {
    entryPoints: [real],
    absWorkingDir: projectRoot(real),
    bundle: true,
    platform: 'node',
    // the export conditions node runs with (--conditions, also in NODE_OPTIONS) pick the same files here
    ...nodeConditions(),
    format: 'esm',
    target: 'node20',
    write: false,
    external: ['esbuild', 'tsx', 'tsx/*'],
    banner: { js: BANNER },
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  } as const satisfies Esbuild.BuildOptions
}

/**
 * How the module graph of a script is read: the bundle's options, packages left external (a
 * package counts by name and version), no output kept.
 *
 * @category utils
 * @since 0.1.0
 */
export const graphOptions = (script: string) => {
  const b = bundleOptions(script)
  return { entryPoints: b.entryPoints, absWorkingDir: b.absWorkingDir, bundle: true, platform: 'node', ...nodeConditions(), format: 'esm', target: 'node20', write: false, packages: 'external', logLevel: 'silent', metafile: true } as const satisfies Esbuild.BuildOptions
}

const nodeConditions = (): { conditions?: Array<string> } => {
  const conditions = [...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/), ...process.execArgv].flatMap((a) => /^(?:--conditions|-C)=(.+)$/.exec(a)?.[1] ?? [])
  // esbuild drops its default "module" condition when given a list
  return conditions.length === 0 ? {} : { conditions: [...conditions, 'module'] }
}

const realOrResolved = (p: string): string => {
  try {
    return Fs.realpathSync(p)
  } catch {
    return Path.resolve(p)
  }
}

/** the package directory (relative) of a path under node_modules, else undefined */
const packageDirOf = (key: string): string | undefined => {
  const at = key.lastIndexOf('node_modules/')
  if (at < 0) return undefined
  const rest = key.slice(at + 'node_modules/'.length).split('/')
  const parts = rest[0]?.startsWith('@') === true ? rest.slice(0, 2) : rest.slice(0, 1)
  return `${key.slice(0, at)}node_modules/${parts.join('/')}`
}

const digestOf = (text: string): string => Crypto.hash('sha256', text, 'hex').slice(0, 32)

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** the package name of an import specifier (`@scope/name/sub` → `@scope/name`), undefined for a node builtin */
const packageNameOf = (specifier: string): string | undefined => {
  if (specifier.startsWith('node:') || NodeModule.isBuiltin(specifier)) return undefined
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** `npm:name@version` of package `name` as node resolves it from `dir`: node_modules above, or the project itself (a self-reference) */
const packageKey = (name: string, dir: string): string => {
  for (let d = dir; ; d = Path.dirname(d)) {
    for (const candidate of [Path.join(d, 'node_modules', name, 'package.json'), Path.join(d, 'package.json')]) {
      try {
        const pkg = JSON.parse(Fs.readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown }
        if (pkg.name === name || candidate.endsWith(Path.join('node_modules', name, 'package.json'))) return `${Identity.PACKAGE_PREFIX}${name}@${typeof pkg.version === 'string' ? pkg.version : 'unknown'}`
      } catch {
        // not here
      }
    }
    if (Path.dirname(d) === d) return `${Identity.PACKAGE_PREFIX}${name}@unknown`
  }
}

/**
 * The table of a bundler metafile whose input paths are relative to `root`. Imports left
 * external (packages, with `packages: 'external'`) count as their package's name and version;
 * node builtins do not count.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromMetafile = async (esbuild: Pick<typeof Esbuild, 'transform'>, metafile: Esbuild.Metafile, root: string): Promise<Identity.Table> => {
  const packages = new Map<string, string>()
  const nodeKeyOf = (input: string): string => {
    const dir = packageDirOf(input)
    if (dir === undefined) return input
    let key = packages.get(dir)
    if (key === undefined) {
      try {
        const pkg = JSON.parse(Fs.readFileSync(Path.join(root, dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
        key = `${Identity.PACKAGE_PREFIX}${typeof pkg.name === 'string' ? pkg.name : Path.posix.basename(dir)}@${typeof pkg.version === 'string' ? pkg.version : 'unknown'}`
      } catch {
        key = `${Identity.PACKAGE_PREFIX}${Path.posix.basename(dir)}@unknown`
      }
      packages.set(dir, key)
    }
    return key
  }
  const external = new Map<string, string>()
  const externalKey = (name: string, importer: string): string => {
    const dir = Path.dirname(Path.join(root, importer))
    const memo = `${name}\0${dir}`
    let key = external.get(memo)
    if (key === undefined) external.set(memo, (key = packageKey(name, dir)))
    return key
  }
  const imports = new Map<string, Set<string>>()
  const digests = new Map<string, Promise<string>>()
  for (const [input, info] of Object.entries(metafile.inputs)) {
    const key = nodeKeyOf(input)
    let set = imports.get(key)
    if (set === undefined) imports.set(key, (set = new Set()))
    for (const i of info.imports) {
      let target: string
      if (i.external === true) {
        const name = packageNameOf(i.path)
        if (name === undefined) continue
        target = externalKey(name, input)
        if (!imports.has(target)) imports.set(target, new Set())
      } else target = nodeKeyOf(i.path)
      if (target !== key) set.add(target)
    }
    if (!key.startsWith(Identity.PACKAGE_PREFIX)) digests.set(key, normalizedDigest(esbuild, root, input))
  }
  const nodes: Record<string, Identity.Node> = {}
  for (const key of [...imports.keys()].sort()) {
    const digest = key.startsWith(Identity.PACKAGE_PREFIX) ? '' : await digests.get(key)!
    nodes[key] = { digest, imports: [...imports.get(key)!].sort() }
  }
  return { v: 1, nodes }
}

/**
 * The identity table of a script: esbuild walks its local module graph (packages left
 * external: each counts as its name and version, not its files) and each local file is hashed
 * in its normalized form. The same function runs for the laptop and for the bundle.
 *
 * @category constructors
 * @since 0.1.0
 */
export const tableOf = async (esbuild: Pick<typeof Esbuild, 'build' | 'transform'>, script: string): Promise<Identity.Table> => {
  const options = graphOptions(script)
  const r = await esbuild.build(options)
  return fromMetafile(esbuild, r.metafile, options.absWorkingDir)
}

/** the digest of a source file's normalized form (its raw bytes when esbuild has no loader for it or cannot parse it) */
const normalizedDigest = async (esbuild: Pick<typeof Esbuild, 'transform'>, root: string, input: string): Promise<string> => {
  let source: string
  try {
    source = await Fs.promises.readFile(Path.join(root, input), 'utf8')
  } catch {
    return digestOf(`unreadable\0${input}`)
  }
  const loader = LOADERS[Path.extname(input)]
  if (loader === undefined) return digestOf(`raw\0${source}`)
  try {
    const r = await esbuild.transform(source, { loader, minifyWhitespace: true, legalComments: 'none', charset: 'utf8', logLevel: 'silent' })
    return digestOf(`${loader}\0${r.code}`)
  } catch {
    return digestOf(`raw\0${source}`)
  }
}

/**
 * The code identity of the script at `script`: the table a bundle embeds, or one computed from
 * the sources (esbuild bundles the script to see its module graph; nothing is written).
 *
 * @category constructors
 * @since 0.1.0
 */
export const ofScript = async (script: string): Promise<E.Either<Errors.SdkError, Identity.Identity>> => {
  let real: string
  let text: string
  try {
    real = Fs.realpathSync(script)
    text = Fs.readFileSync(real, 'utf8')
  } catch (cause) {
    return E.left(identityError(script, 'the script cannot be read', cause))
  }
  const embedded = Identity.fromBundleText(text)
  if (embedded !== undefined) return E.right(Identity.make(Path.dirname(real), embedded, real))
  let esbuild: typeof Esbuild
  try {
    esbuild = await import('esbuild')
  } catch (cause) {
    return E.left(identityError(script, 'esbuild is not installed', cause))
  }
  try {
    return E.right(Identity.make(graphOptions(real).absWorkingDir, await tableOf(esbuild, real)))
  } catch (cause) {
    const first = (cause as { errors?: ReadonlyArray<{ text: string }> }).errors?.[0]?.text
    return E.left(identityError(script, first ?? (cause instanceof Error ? cause.message : 'esbuild failed'), cause))
  }
}

/**
 * The module with the code identity of the script it is defined in (see `Identity.attach`):
 * what the CLI does for `runMain`, for programs that call a dispatcher themselves.
 *
 * @example
 * import { fileURLToPath } from 'node:url'
 * const identified = await withCodeIdentity(Pipeline, fileURLToPath(import.meta.url))
 *
 * @category combinators
 * @since 0.1.0
 */
export const withCodeIdentity = async <M extends Module.AnyModule>(module: M, script: string): Promise<E.Either<Errors.SdkError, M>> => {
  const computed = await ofScript(script)
  return E.isLeft(computed) ? computed : E.right(Identity.attach(module, computed.right))
}
