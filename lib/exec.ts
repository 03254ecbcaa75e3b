/**
 * `ctx.exec`: running an external program from a work implementation. The program is named
 * with an argument array and started without a shell, so no argument is ever interpreted:
 * `ctx.exec('grep', ['--', pattern, file])` passes `pattern` as it is, whatever it holds.
 *
 * Standard input comes from a file (`{ file }`), a string or bytes, or `/dev/null`; standard
 * output and standard error go to files (`{ file, append? }`), are captured (the default; stdout
 * up to `maxBuffer` bytes, stderr's last MiB), or are dropped. The call's signal and deadline
 * (its `maxRunTime`) stop the program: SIGTERM to its process group, SIGKILL a few seconds later.
 *
 * A failure rejects with an `Error` carrying an `ExecError` (`ARV_EXEC_*`) that names the work,
 * the command, the exit status or the signal, and the last lines of its stderr, with secrets
 * removed. An exit status listed in `okCodes` is not a failure: `grep` exiting 1 is an answer.
 *
 * Dispatchers build one `ExecFn` per call with `forCall`; users only call `ctx.exec`.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Errors from './errors.js'
import * as ExecErrorGuard from './exec-error.js'
import * as Launcher from './exec/launcher.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where an output stream goes: `'capture'` (returned in the result), `'ignore'` (`/dev/null`),
 * or a file, created or truncated (`append: true` adds to it).
 *
 * @category models
 * @since 0.1.0
 */
export type Output = 'capture' | 'ignore' | { readonly file: string; readonly append?: boolean }

/**
 * @category models
 * @since 0.1.0
 */
export interface ExecOptions {
  /** standard input: the text or bytes given, or the file `{ file }`; default `/dev/null` */
  readonly stdin?: string | Uint8Array | { readonly file: string }
  /** default `'capture'` */
  readonly stdout?: Output
  /** default `'capture'` (the last MiB is kept); a failure's message shows its last lines either way, unless `'ignore'` */
  readonly stderr?: Output
  /** working directory; default the call's (see `forCall`) */
  readonly cwd?: string
  /** variables added to (or replacing ones of) the environment the command inherits */
  readonly env?: Readonly<Record<string, string>>
  /** exit statuses that mean success; default `[0]` */
  readonly okCodes?: ReadonlyArray<number>
  /** most bytes of stdout to capture (default 64 MiB); more is an `ARV_EXEC_OUTPUT_LIMIT` failure */
  readonly maxBuffer?: number
  /** seconds this command may run (the call's own `maxRunTime` applies too) */
  readonly maxRunTime?: number
}

/**
 * What a command that succeeded gives back. `stdout` and `stderr` are `''` unless captured.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExecResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * `ctx.exec(command, args, options)`.
 *
 * @category models
 * @since 0.1.0
 */
export type ExecFn = (command: string, args?: ReadonlyArray<string>, options?: ExecOptions) => Promise<ExecResult>

/**
 * What `forCall` needs to know about the call it serves.
 *
 * @category models
 * @since 0.1.0
 */
export interface CallScope {
  /** the work's name, for messages */
  readonly work: string
  /** the call's signal: aborting it stops running commands */
  readonly signal: AbortSignal
  /** when the call must end (`Date.now()` milliseconds), from its `maxRunTime` */
  readonly deadline?: number
  /** default working directory (default: this process's) */
  readonly cwd?: string
  /** a private directory for captured output and stdin text (default: the system's temp directory) */
  readonly tmp?: string
  /** removes secrets from text shown in errors (the command line and stderr lines) */
  readonly redact?: (text: string) => string
  /** how commands start (default: `Launcher.direct()`); share one `Launcher.make()` per process */
  readonly launcher?: Launcher.Launcher
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * Why a command failed. `exit`: a status not in `okCodes`; `signal`: killed by a signal;
 * `not-started`: missing program, working directory or stream file; `timeout`: ran past
 * `maxRunTime`; `aborted`: the call's signal; `output`: more stdout than `maxBuffer`;
 * `usage`: a bad argument to `exec` itself.
 *
 * @category models
 * @since 0.1.0
 */
export type Reason = 'exit' | 'signal' | 'not-started' | 'timeout' | 'aborted' | 'output' | 'usage'

const CODES: Readonly<Record<Reason, string>> = {
  exit: 'ARV_EXEC_EXIT',
  signal: 'ARV_EXEC_SIGNAL',
  'not-started': 'ARV_EXEC_NOT_STARTED',
  timeout: 'ARV_EXEC_TIMEOUT',
  aborted: 'ARV_EXEC_ABORTED',
  output: 'ARV_EXEC_OUTPUT_LIMIT',
  usage: 'ARV_EXEC_USAGE',
}

/**
 * @category errors
 * @since 0.1.0
 */
export interface ExecError extends Errors.SdkError {
  readonly _tag: 'ExecError'
  readonly reason: Reason
  readonly work: string
  /** the command line as shown (quoted, redacted) */
  readonly command: string
  readonly exitCode: number | null
  readonly signal: string | null
  /** the last lines of stderr (redacted) */
  readonly stderrTail: ReadonlyArray<string>
}

/**
 * @category errors
 * @since 0.1.0
 */
export const execError = (
  reason: Reason,
  fields: { readonly work: string; readonly command: string; readonly exitCode?: number | null; readonly signal?: string | null; readonly stderrTail?: ReadonlyArray<string> },
  what: string,
  hint?: string,
): ExecError => {
  const tail = fields.stderrTail ?? []
  return Errors.make(
    'ExecError',
    CODES[reason],
    `work "${fields.work}": ${fields.command} ${what}`,
    { reason, work: fields.work, command: fields.command, exitCode: fields.exitCode ?? null, signal: fields.signal ?? null, stderrTail: tail },
    { details: tail.length === 0 ? [] : ['last lines of its stderr:', ...tail.map((l) => `| ${l}`)], ...(hint === undefined ? {} : { hint }) },
  )
}

/**
 * @category guards
 * @since 0.1.0
 */
export const isExecError: (u: unknown) => u is ExecError = ExecErrorGuard.isExecError

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/** a command line for messages: arguments quoted the way a POSIX shell would read them, cut at 300 characters */
export const display = (command: string, args: ReadonlyArray<string>): string => {
  const quote = (a: string): string => (SAFE.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)
  const text = [command, ...args].map(quote).join(' ')
  return `\`${text.length > 300 ? `${text.slice(0, 300)}…` : text}\``
}

/** the last `lines` non-empty lines of `text`, each cut at 300 characters */
const tailLines = (text: string, lines: number): ReadonlyArray<string> =>
  text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l))

const TAIL_LINES = 10
const STDERR_KEEP = 1 << 20
const KILL_GRACE_MS = 3000
const DEFAULT_MAX_BUFFER = 64 << 20

/**
 * Reads at most the last `limit` bytes of a file (`end`), or the first `limit` + 1 (`start`, to
 * detect overflow). Small reads are synchronous: a captured stdout is usually a few bytes, and
 * a round trip through the thread pool per system call costs more than the read.
 */
const readBounded = async (path: string, limit: number, from: 'start' | 'end'): Promise<{ readonly text: string; readonly size: number }> => {
  const fd = Fs.openSync(path, 'r')
  try {
    const { size } = Fs.fstatSync(fd)
    if (size === 0) return { text: '', size }
    const length = Math.min(size, from === 'start' ? limit + 1 : limit)
    const buffer = Buffer.allocUnsafe(length)
    const position = from === 'start' ? 0 : size - length
    let done = 0
    while (done < length) {
      const bytesRead = length <= SYNC_READ ? Fs.readSync(fd, buffer, done, length - done, position + done) : await readAsync(fd, buffer, done, length - done, position + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return { text: buffer.toString('utf8', 0, done), size }
  } finally {
    Fs.closeSync(fd)
  }
}

const SYNC_READ = 1 << 20

const readAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => Fs.read(fd, buffer, offset, length, position, (e, n) => (e === null ? resolve(n) : reject(e))))

const unlinkQuietly = (path: string): void => {
  try {
    Fs.unlinkSync(path)
  } catch {
    // already gone
  }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The `exec` of one call. The dispatcher makes it with the call's work name, signal, deadline
 * and private temp directory, and passes one shared launcher.
 *
 * @category constructors
 * @since 0.1.0
 */
export const forCall = (scope: CallScope): ExecFn => {
  const launcher = scope.launcher ?? Launcher.direct()
  const redact = (s: string): string => Errors.redact(scope.redact === undefined ? s : scope.redact(s))
  let scratch: string | undefined
  let n = 0
  const scratchFile = (suffix: string): string => {
    scratch ??= Path.join(scope.tmp ?? Os.tmpdir(), `.arv-exec-${process.pid}-${Crypto.randomBytes(4).toString('hex')}`)
    return `${scratch}-${n++}.${suffix}`
  }

  return async (command, args = [], options = {}) => {
    const shown = (): string => redact(display(command, args))
    const usage: (what: string, hint?: string) => never = (what, hint) => {
      throw Errors.toError(execError('usage', { work: scope.work, command: typeof command === 'string' ? shown() : '(no command)' }, what, hint))
    }
    if (typeof command !== 'string' || command === '') usage(`cannot be run: the command must be a non-empty string, not ${Errors.kindOf(command)}`)
    if (!Array.isArray(args)) usage(`cannot be run: the arguments must be an array of strings, not ${Errors.kindOf(args)}`, 'pass the arguments as an array: exec("ls", ["-l", dir])')
    ;(args as ReadonlyArray<unknown>).forEach((a, i) => {
      if (typeof a !== 'string') return usage(`cannot be run: argument ${i + 1} is ${Errors.kindOf(a)}, not a string`, 'convert it with String(x)')
      if (a.includes('\0')) usage(`cannot be run: argument ${i + 1} holds a NUL character`)
    })
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (typeof v !== 'string' || k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) usage(`cannot be run: environment variable "${k}" must have a name without "=" and a string value`)
    }
    const where = { work: scope.work, command: shown() }
    if (scope.signal.aborted) throw Errors.toError(execError('aborted', where, 'was not started: the call was stopped (the run was cancelled or another call failed)'))

    // relative paths (cwd, stream files) are read from the call's directory, then the command's
    const cwd = Path.resolve(scope.cwd ?? process.cwd(), options.cwd ?? '.')
    const toRemove: Array<string> = []
    const sink = (o: Output | undefined, name: string): Launcher.Sink | undefined => {
      if (o === 'ignore') return undefined
      if (o === undefined || o === 'capture') {
        const path = scratchFile(name)
        toRemove.push(path)
        return { path, append: false }
      }
      return { path: Path.resolve(cwd, o.file), append: o.append === true }
    }
    const stdout = sink(options.stdout, 'out')
    const stderr = sink(options.stderr, 'err')

    try {
      let stdinPath: string | undefined
      const stdin = options.stdin
      if (typeof stdin === 'string' || stdin instanceof Uint8Array) {
        stdinPath = scratchFile('in')
        toRemove.push(stdinPath)
        await Fs.promises.writeFile(stdinPath, stdin)
      } else if (stdin !== undefined) stdinPath = Path.resolve(cwd, stdin.file)
      const running = launcher.start({
        command,
        args,
        cwd,
        env: options.env,
        stdin: stdinPath,
        stdout,
        stderr,
      })
      // stopping: SIGTERM now, SIGKILL after a grace period; the promise waits for the exit
      let stopped: 'timeout' | 'aborted' | undefined
      let killTimer: NodeJS.Timeout | undefined
      const stop = (why: 'timeout' | 'aborted'): void => {
        if (stopped !== undefined) return
        stopped = why
        running.kill('SIGTERM')
        killTimer = setTimeout(() => running.kill('SIGKILL'), KILL_GRACE_MS)
      }
      const onAbort = (): void => stop('aborted')
      scope.signal.addEventListener('abort', onAbort, { once: true })
      const own = options.maxRunTime === undefined ? undefined : Date.now() + options.maxRunTime * 1000
      const ownBinds = own !== undefined && (scope.deadline === undefined || own <= scope.deadline)
      const deadline = ownBinds ? own : scope.deadline
      const deadlineTimer = deadline === undefined ? undefined : setTimeout(() => stop('timeout'), Math.max(0, deadline - Date.now()))
      let exit: Launcher.Exit
      try {
        exit = await running.exit
      } finally {
        scope.signal.removeEventListener('abort', onAbort)
        if (deadlineTimer !== undefined) clearTimeout(deadlineTimer)
        if (killTimer !== undefined) clearTimeout(killTimer)
      }

      const readErr = async (): Promise<string> => (stderr === undefined ? '' : (await readBounded(stderr.path, STDERR_KEEP, 'end').catch(() => ({ text: '' }))).text)
      const fail = async (reason: Reason, what: string, hint?: string, extra: { exitCode?: number | null; signal?: string | null } = {}): Promise<never> => {
        const tail = tailLines(await readErr(), TAIL_LINES).map(redact)
        throw Errors.toError(execError(reason, { ...where, ...extra, stderrTail: tail }, what, hint))
      }
      if (exit._tag === 'NotStarted') {
        const hint =
          exit.stage === 'exec'
            ? `install ${command} where the work runs (on Arvados: in the container image), or give its absolute path`
            : exit.stage === 'cwd'
              ? 'give an existing directory as cwd'
              : exit.stage === 'launcher'
                ? 'the helper that started it died; later commands start with a new one'
                : `check the ${exit.stage} file`
        return await fail('not-started', `could not be started: ${exit.stage === 'exec' || exit.stage === 'launcher' ? '' : `its ${exit.stage} `}${redact(exit.reason)}`, hint)
      }
      if (stopped === 'timeout') {
        const limit = ownBinds ? `its maxRunTime (${options.maxRunTime} s)` : 'the maxRunTime of the work'
        return await fail('timeout', `ran past ${limit} and was stopped`, 'raise maxRunTime, or give the command less to do', { exitCode: exit.code, signal: exit.signal })
      }
      if (stopped === 'aborted') return await fail('aborted', 'was stopped: the call was stopped (the run was cancelled or another call failed)', undefined, { exitCode: exit.code, signal: exit.signal })
      if (exit.signal !== null) return await fail('signal', `was killed by signal ${exit.signal}`, exit.signal === 'SIGKILL' ? 'SIGKILL often means it ran out of memory: give the work more ram' : undefined, { signal: exit.signal })
      const code = exit.code ?? -1
      if (!(options.okCodes ?? [0]).includes(code)) {
        return await fail('exit', `exited with status ${code}`, options.okCodes === undefined && code === 1 ? 'if status 1 is an answer here (grep: no match), pass okCodes: [0, 1]' : undefined, { exitCode: code })
      }
      const maxBuffer = options.maxBuffer ?? DEFAULT_MAX_BUFFER
      const out = options.stdout === undefined || options.stdout === 'capture' ? await readBounded(stdout!.path, maxBuffer, 'start') : { text: '', size: 0 }
      if (out.size > maxBuffer) {
        return await fail('output', `wrote ${out.size} bytes to stdout, more than maxBuffer (${maxBuffer})`, 'send stdout to a file: { stdout: { file: path } }, or raise maxBuffer')
      }
      const err = options.stderr === undefined || options.stderr === 'capture' ? await readErr() : ''
      return { code, stdout: out.text, stderr: err }
    } finally {
      toRemove.forEach(unlinkQuietly)
    }
  }
}
