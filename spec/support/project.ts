/**
 * A throw-away user project in a temp directory: a package.json, `node_modules/` with
 * arvados-crunch (this checkout), io-ts and fp-ts linked in, plus the files a spec writes.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { root } from './cli.js'

export interface Project {
  readonly dir: string
  readonly write: (file: string, text: string) => void
  readonly read: (file: string) => string
  readonly edit: (file: string, from: string, to: string) => void
  readonly remove: () => void
}

export const makeProject = (prefix: string, files: Readonly<Record<string, string>>): Project => {
  const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix)))
  Fs.mkdirSync(Path.join(dir, 'node_modules'))
  Fs.symlinkSync(root, Path.join(dir, 'node_modules', 'arvados-crunch'))
  for (const dep of ['io-ts', 'fp-ts']) Fs.symlinkSync(Path.join(root, 'node_modules', dep), Path.join(dir, 'node_modules', dep))
  const write = (file: string, text: string): void => {
    Fs.mkdirSync(Path.dirname(Path.join(dir, file)), { recursive: true })
    Fs.writeFileSync(Path.join(dir, file), text)
  }
  const read = (file: string): string => Fs.readFileSync(Path.join(dir, file), 'utf8')
  write('package.json', '{ "type": "module" }\n')
  for (const [f, text] of Object.entries(files)) write(f, text)
  return {
    dir,
    write,
    read,
    edit: (file, from, to) => {
      const text = read(file)
      if (!text.includes(from)) throw new Error(`${file} does not contain ${from}`)
      write(file, text.replace(from, to))
    },
    remove: () => Fs.rmSync(dir, { recursive: true, force: true }),
  }
}
