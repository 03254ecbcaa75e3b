/**
 * The program of a work container: `runMain` in a bundle started with `CRUNCH_ROLE=work` comes
 * here instead of to the CLI (lib/run-main.ts), so a work container loads the work role and what
 * a work runs — not the CLI, the local or crunch dispatchers, the Arvados client or undici (in a
 * bundle they are chunks it never imports, see bundle.ts). It runs the call in the container's
 * call file and writes its result; a failure is the error on stderr (with its stack, mapped to
 * the user's sources by `node --enable-source-maps`), then the error as data for the runner, and
 * exit code 1.
 *
 * @since 0.3.0
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as ConfigFile from '../../arvados/config-file.js'
import * as Codec from '../../codec.js'
import * as Errors from '../../errors.js'
import * as IdentityCompute from '../../identity/compute.js'
import * as Redact from '../../internal/redact.js'
import type * as Module from '../../module.js'
import * as Request from './request.js'
import * as WorkRole from './work-role.js'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const real = (p: string): string => {
  try {
    return Fs.realpathSync(p)
  } catch {
    return p
  }
}

const fail = (error: Errors.SdkError, secrets: ReadonlyArray<string>): void => {
  const hide = Redact.make(secrets)
  process.stderr.write(Errors.format(error, { stack: true, secrets }) + '\n')
  // last: the error as data, for the runner (the same error as a local run)
  process.stderr.write(`${hide(WorkRole.errorLine(error))}\n`)
  process.exitCode = error.code === 'ARV_CANCELLED' ? 130 : 1
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Runs the call in the container's call file with `module` and writes its result; on failure
 * prints the error and sets exit code 1. `script` is the file the module is defined in (the
 * bundle): its embedded code identity gives call ids equal to the laptop's.
 *
 * @category interpreters
 * @since 0.3.0
 */
export const runWork = async (given: Module.AnyModule, script?: string): Promise<void> => {
  let module = given
  if (script !== undefined) {
    const identified = await IdentityCompute.withCodeIdentity(given, script)
    if (E.isRight(identified)) module = identified.right
    else process.stderr.write(`warning: ${Errors.format(identified.left)}\n`)
  }
  const controller = new AbortController()
  const onTerm = (): void => controller.abort('terminated (SIGTERM)')
  process.on('SIGTERM', onTerm)
  const secrets = [...ConfigFile.secrets(process.env, Os.homedir()), ...Codec.secretStrings((await Request.readSecrets(Request.SECRETS_FILE)).flat())]
  try {
    const started = Date.now()
    const hide = Redact.make(secrets)
    const r = await WorkRole.run(module, WorkRole.containerPaths, controller.signal, (e) => {
      if (e.type === 'log') process.stderr.write(`${hide(e.message)}\n`)
    })
    if (E.isLeft(r)) return fail(r.left, secrets)
    process.stderr.write(`arvados-crunch: ${r.right.kind} result written in ${Date.now() - started} ms\n`)
  } finally {
    process.off('SIGTERM', onTerm)
  }
}

/**
 * `runMain` of the work role: when the file that calls it is the one node was started with,
 * runs the container's call (`runWork`); when the file is imported, does nothing.
 *
 * @category interpreters
 * @since 0.3.0
 */
export const runMain = (module: Module.AnyModule, importMetaUrl: string): void => {
  const script = Url.fileURLToPath(importMetaUrl)
  const started = process.argv[1]
  if (started === undefined || real(started) !== real(script)) return
  void runWork(module, script).catch((e: unknown) => fail(Errors.fromUnknown(e), []))
}
