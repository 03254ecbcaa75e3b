/**
 * How the installed `crunch` command loads a TypeScript script: esbuild bundles the script with
 * its own files (every package stays an import, by absolute path, so the script shares the
 * packages' instances with everything else), `import.meta.url` keeps naming each original file,
 * and an inline source map points stacks at the `.ts` lines. The bundle is cached in the user's
 * cache directory (`$XDG_CACHE_HOME` or `~/.cache`, `arvados-crunch/scripts/`), keyed by the script's path, and reused while none of its files
 * changed: a repeated `crunch run` starts neither esbuild nor a loader thread.
 *
 * (A module-loader hook such as tsx's puts every later import of the process through a hooks
 * thread; this costs start-up time and memory on each run.)
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

interface Input {
  readonly path: string
  readonly mtimeMs: number
  readonly size: number
}

interface Entry {
  readonly version: 1
  readonly inputs: ReadonlyArray<Input>
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const stat = (path: string): Input | undefined => {
  try {
    const s = Fs.statSync(path)
    return { path, mtimeMs: s.mtimeMs, size: s.size }
  } catch {
    return undefined
  }
}

const unchanged = (inputs: ReadonlyArray<Input>): boolean =>
  inputs.every((i) => {
    const now = stat(i.path)
    return now !== undefined && now.mtimeMs === i.mtimeMs && now.size === i.size
  })

/** the user's cache directory (not the shared temp directory: nobody else may plant a bundle there) */
const cacheDir = (): string => Path.join(process.env['XDG_CACHE_HOME'] || Path.join(Os.homedir(), '.cache'), 'arvados-crunch', 'scripts')

/** the export conditions node runs with (--conditions, also in NODE_OPTIONS) */
const nodeConditions = (): ReadonlyArray<string> =>
  [...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/), ...process.execArgv].flatMap((a) => /^(?:--conditions|-C)=(.+)$/.exec(a)?.[1] ?? [])

const LOADERS: Readonly<Record<string, 'ts' | 'tsx' | 'js' | 'jsx'>> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'jsx' }

/** each file keeps its own `import.meta.url` (and `dirname`/`filename`) inside the bundle */
const withOwnImportMeta = (text: string, file: string): string =>
  text
    .replace(/\bimport\.meta\.url\b/g, JSON.stringify(Url.pathToFileURL(file).href))
    .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(Path.dirname(file)))
    .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(file))

const bundle = async (file: string, out: string): Promise<ReadonlyArray<Input>> => {
  const esbuild = await import('esbuild')
  const externals = new Set<string>()
  const conditions = nodeConditions()
  const result = await esbuild.build({
    entryPoints: [file],
    absWorkingDir: Path.dirname(file),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    write: false,
    // where the bundle goes, so the source map names the script's files from there
    outfile: out,
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'silent',
    metafile: true,
    ...(conditions.length === 0 ? {} : { conditions: [...conditions, 'module'] }),
    plugins: [
      {
        name: 'arvados-crunch-script',
        setup: (build) => {
          // packages stay imports, by the absolute path esbuild resolved (exports and conditions honoured)
          build.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.path.startsWith('node:') || args.pluginData === 'resolving') return undefined
            const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' })
            if (r.errors.length > 0) return { errors: r.errors }
            if (r.external || !Path.isAbsolute(r.path)) return { path: args.path, external: true }
            externals.add(r.path)
            return { path: Url.pathToFileURL(r.path).href, external: true }
          })
          build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
            const loader = LOADERS[Path.extname(args.path)]
            if (loader === undefined) return undefined
            return { contents: withOwnImportMeta(await Fs.promises.readFile(args.path, 'utf8'), args.path), loader }
          })
        },
      },
    ],
  })
  const text = result.outputFiles[0]?.text ?? ''
  const inputs = [...Object.keys(result.metafile.inputs).map((p) => Path.resolve(Path.dirname(file), p)), ...externals].flatMap((p) => stat(p) ?? [])
  await Fs.promises.mkdir(Path.dirname(out), { recursive: true, mode: 0o700 })
  const tmp = `${out}.${process.pid}.tmp`
  await Fs.promises.writeFile(tmp, text)
  await Fs.promises.rename(tmp, out)
  return inputs
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The URL to import for the TypeScript script `file`: its cached bundle, rebuilt first when
 * the script or one of its files changed. A syntax error rejects with esbuild's error (its
 * `errors` carry file, line and column).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const bundledScript = async (file: string): Promise<string> => {
  const key = Crypto.createHash('sha256').update(`${file}\0${process.versions.node}\0${nodeConditions().join(',')}`).digest('hex').slice(0, 32)
  const out = Path.join(cacheDir(), `${key}.mjs`)
  const meta = `${out}.json`
  try {
    const entry = JSON.parse(Fs.readFileSync(meta, 'utf8')) as Entry
    if (entry.version === 1 && Fs.existsSync(out) && unchanged(entry.inputs)) return Url.pathToFileURL(out).href
  } catch {
    // no entry yet, or an unreadable one: bundle
  }
  let inputs: ReadonlyArray<Input>
  try {
    inputs = await bundle(file, out)
  } catch (e) {
    // esbuild names files relative to the script's directory: make them absolute
    const errors = (e as { errors?: ReadonlyArray<{ text: string; location?: { file: string } | null }> }).errors
    if (errors === undefined) throw e
    throw Object.assign(new Error(e instanceof Error ? e.message : 'esbuild failed'), {
      errors: errors.map((m) => (m.location === undefined || m.location === null ? m : { ...m, location: { ...m.location, file: Path.resolve(Path.dirname(file), m.location.file) } })),
    })
  }
  const entry: Entry = { version: 1, inputs }
  await Fs.promises.writeFile(meta, JSON.stringify(entry))
  return Url.pathToFileURL(out).href
}
