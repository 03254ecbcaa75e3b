/**
 * The user's script as one file, in Keep. `build` bundles the script (TypeScript allowed) and
 * everything it imports with esbuild into a single ESM file; `upload` stores it as a collection
 * holding `main.mjs`. The bundle is reproducible: paths in it are relative to the project root
 * (the nearest directory with a package.json), it has no timestamps, and the same sources give
 * the same bytes — so the same portable data hash, the same container requests, and Arvados
 * reuses containers of unchanged code. The bundle embeds the code identity table of its sources
 * (`identity/`), so call ids made inside a container equal those made on the laptop.
 *
 * esbuild is loaded only when bundling (never inside a container, which runs the bundle).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
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

/**
 * The manifest of a bundle collection (unsigned) and its portable data hash. Pure.
 *
 * @category utils
 * @since 0.1.0
 */
export const manifestOf = (bytes: Uint8Array): { readonly manifest: string; readonly pdh: string; readonly locator: string } => {
  const locator = `${Crypto.createHash('md5').update(bytes).digest('hex')}+${bytes.length}`
  const manifest = `. ${locator} 0:${bytes.length}:${FILE}\n`
  return { manifest, pdh: Pdh.of(manifest), locator }
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------


/**
 * Bundles `script` into one ESM file (bytes).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const build = async (script: string): Promise<E.Either<Errors.SdkError, Uint8Array>> => {
  let esbuild: typeof import('esbuild')
  try {
    esbuild = await import('esbuild')
  } catch (cause) {
    return E.left(bundleError(script, 'esbuild is not installed', [], cause))
  }
  try {
    const r = await esbuild.build({
      ...Compute.bundleOptions(script),
      // stacks from a container name the user's files and lines (node --enable-source-maps)
      sourcemap: 'inline',
      sourcesContent: false,
      metafile: true,
    })
    const out = r.outputFiles[0]
    if (out === undefined) return E.left(bundleError(script, 'esbuild produced no output', []))
    // the code identity of the sources, computed here where they are, travels in the bundle
    // with where each input starts in the bundle, which tells a work its file from its line
    const table = Identity.withLines(await Compute.tableOf(esbuild, script), out.text, new Set(Object.keys(r.metafile.inputs)))
    return E.right(new TextEncoder().encode(Identity.embed(out.text, table)))
  } catch (cause) {
    const errors = (cause as { errors?: ReadonlyArray<{ text: string; location?: { file: string; line: number } | null }> }).errors ?? []
    return E.left(bundleError(script, errors[0]?.text ?? (cause instanceof Error ? cause.message : 'esbuild failed'), errors.slice(0, 5).map((e) => `${e.location === null || e.location === undefined ? '' : `${e.location.file}:${e.location.line}: `}${e.text}`), cause))
  }
}

/**
 * Stores the bundle as a collection (unless a readable one with the same content exists).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const upload = async (
  bytes: Uint8Array,
  api: Client.ArvadosClient,
  keep: Keep.KeepClient,
  project: string | undefined,
): Promise<E.Either<Errors.SdkError, Request.Bundle>> => {
  const { pdh } = manifestOf(bytes)
  const existing = await api.collections.list({ filters: [['portable_data_hash', '=', pdh]], select: ['uuid'], limit: 1 })()
  if (E.isLeft(existing)) return existing
  if (existing.right.items.length > 0) return E.right({ pdh, file: FILE })
  const stored = await keep.put(bytes)()
  if (E.isLeft(stored)) return stored
  const manifest = `. ${Locator.format(stored.right.locator)} 0:${bytes.length}:${FILE}\n`
  const created = await api.collections.create(
    { manifest_text: manifest, name: `arvados-crunch bundle ${pdh}`, ...(project === undefined ? {} : { owner_uuid: project }) },
    { ensure_unique_name: true, createId: `bundle-${pdh}` },
  )()
  if (E.isLeft(created)) return created
  return E.right({ pdh, file: FILE })
}
