/**
 * What `crunch run` says about a script it cannot run (pure, given the file system reads it is
 * handed): a TypeScript syntax error headlined by `file:line:col` and the compiler's message, a
 * script node loads as CommonJS (the `"type": "module"` / `.mts` fix), a package the script
 * imports that is not installed, and a script that never calls `runMain`.
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The package.json that decides how node loads `file`, and its `"type"`.
 *
 * @category utils
 * @since 0.1.0
 */
export const packageScope = (file: string): { readonly packageJson: string | undefined; readonly type: 'module' | 'commonjs' } => {
  for (let dir = Path.dirname(file); ; dir = Path.dirname(dir)) {
    const candidate = Path.join(dir, 'package.json')
    if (Fs.existsSync(candidate)) {
      try {
        const pkg = JSON.parse(Fs.readFileSync(candidate, 'utf8')) as { type?: unknown }
        return { packageJson: candidate, type: pkg.type === 'module' ? 'module' : 'commonjs' }
      } catch {
        return { packageJson: candidate, type: 'commonjs' }
      }
    }
    if (Path.dirname(dir) === dir) return { packageJson: undefined, type: 'commonjs' }
  }
}

/**
 * Whether node loads `file` as CommonJS (`.cts`/`.cjs`, or `.ts`/`.js` outside a
 * `"type": "module"` package).
 *
 * @category utils
 * @since 0.1.0
 */
export const loadsAsCommonJs = (file: string): boolean => {
  if (/\.c[jt]s$/.test(file)) return true
  if (/\.m[jt]s$/.test(file)) return false
  return packageScope(file).type === 'commonjs'
}

interface EsbuildMessage {
  readonly text: string
  readonly location?: { readonly file: string; readonly line: number; readonly column: number; readonly lineText?: string } | null
}

const lineOf = (file: string, line: number): string | undefined => {
  try {
    return Fs.readFileSync(file, 'utf8').split('\n')[line - 1]
  } catch {
    return undefined
  }
}

/** esbuild's errors: on the error itself, or (tsx drops them) in its message, `file:line:col: ERROR: text` */
const syntaxErrorsOf = (cause: unknown): ReadonlyArray<EsbuildMessage> => {
  const errors = (cause as { errors?: unknown } | null)?.errors
  if (Array.isArray(errors)) return (errors as ReadonlyArray<EsbuildMessage>).filter((e) => typeof e?.text === 'string')
  if (!(cause instanceof Error) || !/^Transform failed with \d+ error/.test(cause.message)) return []
  return [...cause.message.matchAll(/^(.+):(\d+):(\d+): ERROR: (.*)$/gm)].map((m) => {
    const file = m[1]!
    const line = Number(m[2])
    const lineText = lineOf(file, line)
    return { text: m[4]!, location: { file, line, column: Number(m[3]), ...(lineText === undefined ? {} : { lineText }) } }
  })
}

const firstLine = (cause: unknown): string => (cause instanceof Error ? cause.message.split('\n')[0]! : `a thrown ${Errors.kindOf(cause)}`)

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * A script that could not be loaded, explained.
 *
 * @category errors
 * @since 0.1.0
 */
export const loadError = (script: string, file: string, cause: unknown): Errors.SdkError => {
  const syntax = syntaxErrorsOf(cause)
  const at = syntax[0]?.location
  if (syntax.length > 0 && at !== undefined && at !== null) {
    const where = `${Path.relative(process.cwd(), at.file) || at.file}:${at.line}:${at.column + 1}`
    const details = [
      ...(at.lineText === undefined ? [] : [`${String(at.line).padStart(5)} | ${at.lineText}`, `${' '.repeat(5)} | ${' '.repeat(at.column)}^`]),
      ...syntax.slice(1, 4).map((e) => (e.location === undefined || e.location === null ? e.text : `${e.location.file}:${e.location.line}:${e.location.column + 1}: ${e.text}`)),
    ]
    return Errors.make('ScriptLoadError', 'ARV_SCRIPT_LOAD', `${where}: ${syntax[0]!.text}`, { script }, { details, hint: `fix the syntax error in ${Path.basename(at.file)}; nothing ran` })
  }
  const message = firstLine(cause)
  if (loadsAsCommonJs(file) && /require\(\) ES Module|ERR_REQUIRE_ESM|import\.meta|Cannot use import statement|ERR_REQUIRE_CYCLE_MODULE|exports is not defined/i.test(`${message} ${(cause as { code?: unknown } | null)?.code ?? ''}`)) {
    const scope = packageScope(file)
    const ext = Path.extname(file)
    const renamed = `${Path.basename(file, ext)}${ext === '.js' ? '.mjs' : '.mts'}`
    return Errors.make('ScriptLoadError', 'ARV_SCRIPT_LOAD', `cannot load ${script}: node loads it as CommonJS, and a crunch script is an ES module (it calls runMain(module, import.meta.url))`, { script }, {
      hint: scope.packageJson === undefined ? `add a package.json with "type": "module" beside the script, or rename it to ${renamed}` : `add "type": "module" to ${Path.relative(process.cwd(), scope.packageJson) || scope.packageJson}, or rename the script to ${renamed}`,
      cause,
    })
  }
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(message)
  if (missing !== null && (cause as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND') {
    const name = missing[1]!
    const isPackage = !name.startsWith('.') && !name.startsWith('/')
    return Errors.make('ScriptLoadError', 'ARV_SCRIPT_LOAD', `cannot load ${script}: ${message}`, { script }, {
      hint: isPackage ? `install it where the script lives (npm install ${name.split('/').slice(0, name.startsWith('@') ? 2 : 1).join('/')})` : 'check the path of the import (a TypeScript import names the .js file: ./util.js for util.ts)',
      cause,
    })
  }
  return Errors.make('ScriptLoadError', 'ARV_SCRIPT_LOAD', `cannot load ${script}: ${message}`, { script }, {
    hint: 'the error happened while the script was loading (run it with --verbose for the stack); packages it imports must be installed where it lives',
    cause,
  })
}

const looksLikeModule = (u: unknown): u is { readonly name: string } =>
  typeof u === 'object' && u !== null && typeof (u as { name?: unknown }).name === 'string' && typeof (u as { run?: unknown }).run === 'function' && typeof (u as { work?: unknown }).work === 'object'

/**
 * A script that loaded but never called `runMain`: nothing would run.
 *
 * @category errors
 * @since 0.1.0
 */
export const noRunMain = (script: string, exports: Readonly<Record<string, unknown>>): Errors.SdkError => {
  const modules = Object.entries(exports).filter(([, v]) => looksLikeModule(v))
  const name = modules[0]?.[0] ?? 'YourModule'
  return Errors.make('NoRunMainError', 'ARV_NO_RUN_MAIN', `${script} does not call runMain: there is nothing to run`, { script }, {
    hint: `end the script with runMain(${name}, import.meta.url) (import { runMain } from 'arvados-crunch')`,
  })
}

/** the directory of the SDK's own files (lib/ or dist/): frames there are not the user's */
const sdkDir = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..')

/**
 * The first frame of `stack` in the user's code (not node's, not a package's, not the SDK's),
 * as `file:line:col` relative to the working directory.
 *
 * @category utils
 * @since 0.1.0
 */
export const userFrame = (stack: string): string | undefined => {
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):(\d+):(\d+)\)?\s*$/.exec(line.trim())
    if (m === null) continue
    const file = m[1]!.startsWith('file://') ? Url.fileURLToPath(m[1]!) : m[1]!
    if (file.startsWith(sdkDir + Path.sep) || file.includes(`${Path.sep}node_modules${Path.sep}`)) continue
    const rel = Path.relative(process.cwd(), file)
    return `${rel.startsWith('..') ? file : rel}:${m[2]!}:${m[3]!}`
  }
  return undefined
}

/**
 * A failed call's error with the place in the user's code where it was thrown (one more detail
 * line, `at file:line:col`), found in the stack of its cause.
 *
 * @category utils
 * @since 0.1.0
 */
export const withUserFrame = (error: Errors.SdkError): Errors.SdkError => {
  if (error._tag !== 'WorkFailedError' && error._tag !== 'RunFailedError') return error
  let cause: unknown = error.cause
  for (let depth = 0; depth < 5 && cause !== undefined; depth++) {
    if (Errors.isSdkError(cause)) cause = cause.cause
    else if (cause instanceof Error && typeof cause.stack === 'string') {
      const frame = userFrame(cause.stack)
      return frame === undefined ? error : { ...error, details: [...(error.details ?? []), `at ${frame}`] }
    } else return error
  }
  return error
}
