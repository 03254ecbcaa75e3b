/**
 * The user's script as files in one collection, in Keep. `build` bundles the script (TypeScript
 * allowed) and everything it imports with esbuild into ESM files: an entry, `main.mjs`, and
 * chunks it imports when a role needs them (esbuild's code splitting at each `import()`), each
 * with its source map in its own `.map` file next to it. A work container so loads the entry,
 * the work role (work-main.ts) and what a work runs — not the CLI, the runner, the Arvados
 * client or undici. Only the entry, which holds all of the user's code, names its map (so
 * `node --enable-source-maps` maps the user's frames and parses no other map at start-up).
 * `upload` stores the files as one collection; its portable data hash is the code identity of
 * the whole bundle (any change in any file changes it).
 *
 * The bundle is reproducible: paths in it are relative to the project root (the nearest
 * directory with a package.json), chunk names are hashes of their contents, there are no
 * timestamps, and the same sources give the same bytes — so the same portable data hash, the
 * same container requests, and Arvados reuses containers of unchanged code. The entry embeds the
 * code identity table of the sources (`identity/`), so call ids made inside a container equal
 * those made on the laptop; when a file of the user's would land in a chunk (the script imports
 * its own files with `import()`), the table's line index could not place it, so the script is
 * bundled into one file instead.
 *
 * esbuild is loaded only when bundling (never inside a container, which runs the bundle).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as NodeModule from 'node:module'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Esbuild from 'esbuild'
import type * as Client from '../../arvados/client.js'
import * as Manifest from '../../collections/manifest.js'
import * as Pdh from '../../collections/pdh.js'
import * as Errors from '../../errors.js'
import * as Compute from '../../identity/compute.js'
import * as Identity from '../../identity/identity.js'
import type * as Keep from '../../keep/client.js'
import * as Locator from '../../keep/locator.js'
import type * as Request from './request.js'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * Name of the bundled script inside its collection.
 *
 * @category constants
 * @since 0.1.0
 */
export const FILE = 'main.mjs'

/** where esbuild places the outputs (never written): a directory of its own under the project root */
const OUT_DIR = '.arvados-crunch-bundle'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One file of a bundle: its name in the collection (no directories) and its bytes.
 *
 * @category models
 * @since 0.3.0
 */
export interface File {
  readonly name: string
  readonly bytes: Uint8Array
}

/**
 * A bundle: its files sorted by name, the entry (`FILE`) among them.
 *
 * @category models
 * @since 0.3.0
 */
export type Files = ReadonlyArray<File>

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const bundleError = (script: string, message: string, details: ReadonlyArray<string>, cause?: unknown) =>
  Errors.make('BundleError', 'ARV_CRUNCH_BUNDLE', `cannot bundle ${script}: ${message}`, { script }, {
    details,
    hint: 'the script and what it imports must build with esbuild (run it locally first: crunch run <script> --dispatcher local)',
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
export const projectRoot = Compute.projectRoot

/** the files laid out in Keep blocks: one stream, files in name order back to back, blocks of at most 64 MiB */
const blocksOf = (files: Files): ReadonlyArray<Uint8Array> => {
  const all = Buffer.concat(files.map((f) => f.bytes))
  const blocks: Array<Uint8Array> = []
  for (let at = 0; at < all.length; at += Locator.MAX_BLOCK_SIZE) blocks.push(all.subarray(at, Math.min(all.length, at + Locator.MAX_BLOCK_SIZE)))
  return blocks
}

/** the normalized manifest of the files over the blocks' locators (as `blocksOf` lays them out) */
const manifestWith = (files: Files, locators: ReadonlyArray<string>): string => {
  let at = 0
  const segments = files.map((f) => {
    const s = `${at}:${f.bytes.length}:${Manifest.escape(f.name)}`
    at += f.bytes.length
    return s
  })
  return `. ${(locators.length === 0 ? ['d41d8cd98f00b204e9800998ecf8427e+0'] : locators).join(' ')} ${segments.join(' ')}\n`
}

/**
 * The manifest of a bundle collection (unsigned) and its portable data hash — the identity of
 * the whole bundle. Pure.
 *
 * @category utils
 * @since 0.1.0
 */
export const manifestOf = (files: Files): { readonly manifest: string; readonly pdh: string } => {
  const manifest = manifestWith(files, blocksOf(files).map((b) => `${Crypto.createHash('md5').update(b).digest('hex')}+${b.length}`))
  return { manifest, pdh: Pdh.of(manifest) }
}

/**
 * The entry file of a bundle (the script; it embeds the code identity table).
 *
 * @category utils
 * @since 0.3.0
 */
export const entryOf = (files: Files): File | undefined => files.find((f) => f.name === FILE)

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * fp-ts and io-ts from their ES module builds (their `es6/`, the same code as `lib/`), for every
 * importer (the SDK's, the user's, a package's `require`), so there is one copy of each, the
 * SDK's: their CommonJS builds run esbuild's interop wrappers at start-up (a copy of every export
 * for each importing file) and keep all their code, where ES modules keep only what is used.
 * Done with esbuild's own `alias` (absolute targets), not a resolve plugin: a plugin's answers
 * arrive in an order that varies with load, and with them esbuild's numbering of renamed
 * symbols, so the same sources gave two different bundles (so two portable data hashes, and no
 * reuse) under load.
 */
const esmBuilds = (): Readonly<Record<string, string>> => {
  const require = NodeModule.createRequire(import.meta.url)
  const aliases: Record<string, string> = {}
  for (const pkg of ['fp-ts', 'io-ts']) {
    const es6 = Path.join(Path.dirname(require.resolve(`${pkg}/package.json`)), 'es6')
    Object.assign(aliases, { [pkg]: Path.join(es6, 'index.js'), [`${pkg}/lib`]: es6, [`${pkg}/es6`]: es6 })
  }
  return aliases
}

const esbuildOptions = (script: string, splitting: boolean) => {
  const b = Compute.bundleOptions(script)
  return {
    ...b,
    outdir: Path.join(b.absWorkingDir, OUT_DIR),
    entryNames: 'main',
    chunkNames: '[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    splitting,
    // stacks from a container name the user's files and lines (node --enable-source-maps reads
    // the map of a file it loaded, from the file next to it)
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    alias: esmBuilds(),
  } as const satisfies Esbuild.BuildOptions
}

/**
 * A chunk's text without its `sourceMappingURL` comment: node then does not read its map when it
 * loads the chunk (with `--enable-source-maps` it reads and parses the map of every file it
 * loads, about as costly as the code itself). The user's code is all in the entry, whose map
 * node reads; the chunks hold the SDK and packages, their maps stay in the collection.
 */
const withoutMapComment = (text: string): string => text.replace(/\n\/\/# sourceMappingURL=[^\n]*\n?$/, '\n')

/** the local files of the table (the user's) that esbuild put outside the entry */
const outsideEntry = (table: Identity.Table, entryInputs: ReadonlySet<string>): ReadonlyArray<string> =>
  Object.keys(table.nodes).filter((k) => !k.startsWith(Identity.PACKAGE_PREFIX) && !entryInputs.has(k))

/**
 * Bundles `script` into its files: the entry `main.mjs`, the chunks it imports, a `.map` file
 * for each.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const build = async (script: string): Promise<E.Either<Errors.SdkError, Files>> => {
  let esbuild: typeof Esbuild
  try {
    esbuild = await import('esbuild')
  } catch (cause) {
    return E.left(bundleError(script, 'esbuild is not installed', [], cause))
  }
  try {
    // the code identity of the sources, computed here where they are, travels in the entry with
    // where each input starts in it, which tells a work its file from its line
    const table = await Compute.tableOf(esbuild, script)
    const attempt = async (splitting: boolean) => {
      const options = esbuildOptions(script, splitting)
      const r = await esbuild.build(options)
      const entryPath = Path.join(options.outdir, FILE)
      const entryInputs = new Set(Object.keys(r.metafile.outputs[Path.relative(options.absWorkingDir, entryPath)]?.inputs ?? {}))
      return { r, options, entryPath, entryInputs }
    }
    let built = await attempt(true)
    if (outsideEntry(table, built.entryInputs).length > 0) built = await attempt(false)
    const { r, options, entryPath, entryInputs } = built
    const files: Array<File> = []
    for (const out of r.outputFiles) {
      const name = Path.relative(options.outdir, out.path)
      if (name.includes(Path.sep) || name.startsWith('..')) return E.left(bundleError(script, `esbuild wrote ${name} outside the bundle's directory`, []))
      files.push({ name, bytes: out.path === entryPath ? new TextEncoder().encode(Identity.embed(out.text, Identity.withLines(table, out.text, entryInputs))) : name.endsWith('.mjs') ? new TextEncoder().encode(withoutMapComment(out.text)) : out.contents })
    }
    if (files.every((f) => f.name !== FILE)) return E.left(bundleError(script, 'esbuild produced no entry file', []))
    return E.right(files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
  } catch (cause) {
    const errors = (cause as { errors?: ReadonlyArray<{ text: string; location?: { file: string; line: number } | null }> }).errors ?? []
    return E.left(bundleError(script, errors[0]?.text ?? (cause instanceof Error ? cause.message : 'esbuild failed'), errors.slice(0, 5).map((e) => `${e.location === null || e.location === undefined ? '' : `${e.location.file}:${e.location.line}: `}${e.text}`), cause))
  }
}

/**
 * Writes the bundle's files into `dir` (made if missing), as a collection mount holds them.
 *
 * @category interpreters
 * @since 0.3.0
 */
export const writeTo = (files: Files, dir: string): void => {
  Fs.mkdirSync(dir, { recursive: true })
  for (const f of files) Fs.writeFileSync(Path.join(dir, f.name), f.bytes)
}

/**
 * Stores the bundle as one collection (unless a readable one with the same content exists).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const upload = async (
  files: Files,
  api: Client.ArvadosClient,
  keep: Keep.KeepClient,
  project: string | undefined,
): Promise<E.Either<Errors.SdkError, Request.Bundle>> => {
  const { pdh } = manifestOf(files)
  const existing = await api.collections.list({ filters: [['portable_data_hash', '=', pdh]], select: ['uuid'], limit: 1 })()
  if (E.isLeft(existing)) return existing
  if (existing.right.items.length > 0) return E.right({ pdh, file: FILE })
  const signed: Array<string> = []
  for (const block of blocksOf(files)) {
    const stored = await keep.put(block)()
    if (E.isLeft(stored)) return stored
    signed.push(Locator.format(stored.right.locator))
  }
  const created = await api.collections.create(
    { manifest_text: manifestWith(files, signed), name: `arvados-crunch bundle ${pdh}`, ...(project === undefined ? {} : { owner_uuid: project }) },
    { ensure_unique_name: true, createId: `bundle-${pdh}` },
  )()
  if (E.isLeft(created)) return created
  return E.right({ pdh, file: FILE })
}
