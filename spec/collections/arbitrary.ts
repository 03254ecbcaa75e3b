/**
 * Shared test data for the collection specs: the Arvados vectors (spec/fixtures/collections) and
 * fast-check generators of valid manifests (canonical escapes, signed and hinted locators).
 */
import * as Fs from 'node:fs'
import * as fc from 'fast-check'
import * as Locator from '../../lib/keep/locator.js'
import * as Manifest from '../../lib/collections/manifest.js'

export interface Vectors {
  readonly pdh: ReadonlyArray<{ readonly manifest: string; readonly pdh: string; readonly source: string }>
  readonly normalize: ReadonlyArray<{ readonly manifest: string; readonly normalized: string; readonly source: string }>
  readonly rejected: ReadonlyArray<{ readonly manifest: string; readonly stream: number; readonly token: number; readonly source: string }>
}

export const vectors: Vectors = JSON.parse(Fs.readFileSync(new URL('../fixtures/collections/arvados-vectors.json', import.meta.url), 'utf8'))

/** One path component: any non-empty text without "/" or NUL that is not "." or "..". */
export const component: fc.Arbitrary<string> = fc
  .string({ unit: fc.oneof(fc.constantFrom('a', 'b', 'Z', '0', '.', '-', ' ', ':', '\\', '\t', 'é', '😀', '\u007f'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 8 })
  .map((s) => s.replace(/[/\u0000]/g, '_'))
  .filter((s) => s !== '.' && s !== '..')

export const fileName: fc.Arbitrary<string> = fc.array(component, { minLength: 1, maxLength: 3 }).map((cs) => cs.join('/'))

const signed = fc.tuple(fc.stringMatching(/^[0-9a-f]{40}$/), fc.integer({ min: 0, max: 0xffffffff })).map(([signature, expiresAt]) => [`A${signature}@${expiresAt.toString(16).padStart(8, '0')}`])
const hints = fc.oneof(fc.constant<ReadonlyArray<string>>([]), signed, fc.constant(['K@xyzzy']))

export const locator: fc.Arbitrary<Locator.Locator> = fc.record({
  hash: fc.stringMatching(/^[0-9a-f]{32}$/),
  size: fc.integer({ min: 0, max: 2000 }),
  hints,
})

export const stream: fc.Arbitrary<Manifest.Stream> = fc
  .tuple(fc.array(component, { maxLength: 2 }), fc.array(locator, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fileName), { minLength: 1, maxLength: 4 }))
  .map(([dirs, locators, segs]) => {
    const total = locators.reduce((n, l) => n + l.size, 0)
    return {
      name: ['.', ...dirs].join('/'),
      locators,
      segments: segs.map(([a, b, name]) => {
        const position = total === 0 ? 0 : a % (total + 1)
        return { position, length: b % (total - position + 1), name }
      }),
    }
  })

export const manifest: fc.Arbitrary<Manifest.Manifest> = fc.array(stream, { maxLength: 4 }).map((streams) => ({ streams }))

export const manifestText: fc.Arbitrary<string> = manifest.map(Manifest.print)
