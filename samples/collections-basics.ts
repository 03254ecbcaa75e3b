/**
 * Collections without a pipeline: a local content-addressed store, writing outputs the way a
 * work does through `ctx.output`, reading files back, concatenating outputs, and extracting a
 * collection to a directory. Checks its own results and prints the portable data hashes.
 *
 *   node --import tsx samples/collections-basics.ts [store directory]
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Codec from '../lib/collections/codec.js'
import * as Collection from '../lib/collections/collection.js'
import * as LocalStore from '../lib/collections/local-store.js'
import * as Materialize from '../lib/collections/materialize.js'
import * as Store from '../lib/collections/store.js'

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`sample check failed: ${what}`)
}
const root = process.argv[2] ?? Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-sample-'))
const signal = new AbortController().signal

// The local dispatcher's ValueStore over a store directory.
const store = Store.make(Path.join(root, 'store'))
const values = LocalStore.valueStore(store)

// 1. Two "works" write their outputs: one from in-memory files, one from a directory.
const first = await values.outputs('call-1', signal).fromFiles({ 'report.txt': 'part one\n', 'data/a.csv': 'x,y\n1,2\n' })
const out = values.outputs('call-2', signal)
const dir = await out.directory()
Fs.mkdirSync(Path.join(dir, 'data'))
Fs.writeFileSync(Path.join(dir, 'report.txt'), 'part two\n')
Fs.writeFileSync(Path.join(dir, 'data', 'b.csv'), 'x,y\n3,4\n')
const second = await out.fromDirectory(dir)
console.log('first ', first.pdh)
console.log('second', second.pdh)

// 2. Reading: whole, as text, or streamed with bounded memory.
check((await Collection.readText(first, 'report.txt')) === 'part one\n', 'readText')
let bytes = 0
for await (const chunk of Collection.stream(second, 'data/b.csv')) bytes += chunk.length
check(bytes === 8, 'stream')

// 3. Concatenation: in list order, same-name files joined byte-wise, nulls skipped, no block copied.
const combined = await values.concat([first, null, second], signal)
if (E.isLeft(combined)) throw new Error(combined.left.message)
check((await Collection.readText(combined.right, 'report.txt')) === 'part one\npart two\n', 'concat report.txt')
check(combined.right.files.map((f) => f.path).join(',') === 'report.txt,data/a.csv,data/b.csv', 'concat files')
console.log('combined', combined.right.pdh)
process.stdout.write(combined.right.manifestText)

// 4. Values cross work boundaries as strings: a PDH, or pdh/path for one file.
const csv = Collection.file(combined.right, 'data/a.csv')
if (E.isLeft(csv)) throw new Error(csv.left.message)
const wire = Codec.FileCodec.encode(csv.right) // "<pdh>/data/a.csv"
const decoded = Codec.FileCodec.decode(wire)
if (E.isLeft(decoded)) throw new Error('decode')
const hydrated = await values.hydrate(decoded.right, signal)
if (E.isLeft(hydrated)) throw new Error(hydrated.left.message)
check(Collection.isCollectionFile(hydrated.right) && (await Collection.readText(hydrated.right)) === 'x,y\n1,2\n', 'hydrate file')

// 5. Extract to a directory (every path checked first; nothing outside the target is touched).
const target = Path.join(root, 'extracted')
const written = await Materialize.materialize(combined.right, target)
if (E.isLeft(written)) throw new Error(written.left.message)
check(Fs.readFileSync(Path.join(target, 'data', 'b.csv'), 'utf8') === 'x,y\n3,4\n', 'materialize')
console.log('extracted to', target)
if (process.argv[2] === undefined) Fs.rmSync(root, { recursive: true, force: true })
