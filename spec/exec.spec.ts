/**
 * `Exec.forCall`: running external programs for a work, with real processes, through both
 * launchers (the Perl helper and `child_process.spawn`).
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Errors from '../lib/errors.js'
import * as Exec from '../lib/exec.js'
import * as Launcher from '../lib/exec/launcher.js'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..')

/** the ExecError an exec rejected with */
const failure = async (p: Promise<unknown>): Promise<Exec.ExecError> => {
  try {
    await p
  } catch (e) {
    assert.instance(e, Error)
    assert.ok(Exec.isExecError(e), `not an ExecError: ${String(e)}`)
    return Errors.carried(e) as Exec.ExecError
  }
  assert.unreachable('expected the command to fail')
  throw new Error('unreachable')
}

const gone = async (pid: number): Promise<boolean> => {
  // the process group was signalled before the exec settled; give the kernel a moment to reap
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^\d+ \(.*\) Z/.test(stat)) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return false
}

for (const kind of ['helper', 'direct'] as const) {
  let launcher: Launcher.Launcher
  let dir: string
  const exec = (scope: Partial<Exec.CallScope> = {}): Exec.ExecFn =>
    Exec.forCall({ work: 'align', signal: new AbortController().signal, tmp: dir, launcher, ...scope })

  const test = suite(`Exec.forCall (${kind} launcher)`)
  test.before.each(() => {
    launcher = kind === 'helper' ? Launcher.make() : Launcher.direct()
    dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-exec-spec-'))
  })
  test.after.each(async () => {
    await launcher.close()
    Fs.rmSync(dir, { recursive: true, force: true })
  })

  test('should run a command with its arguments and capture stdout and stderr', async () => {
    const r = await exec()('sh', ['-c', 'echo "$1 $2"; echo warn >&2', 'sh', 'a b', 'c'])
    assert.equal(r, { code: 0, stdout: 'a b c\n', stderr: 'warn\n' })
    assert.is(launcher.kind(), kind)
  })

  test('should pass every argument literally: no shell reads them', async () => {
    const tricky = ['$(touch pwned)', '`touch pwned`', '; touch pwned', '&& touch pwned', "'", '"', '*', '$HOME', 'a\nb', '']
    const r = await exec({ cwd: dir })('printf', ['[%s]\n', ...tricky])
    assert.is(r.stdout, tricky.map((a) => `[${a}]\n`).join(''))
    assert.not.ok(Fs.existsSync(Path.join(dir, 'pwned')))
  })

  test('should fail with the exit status, the command and the last lines of stderr', async () => {
    const script = 'for i in $(seq 1 15); do echo "line $i" >&2; done; exit 3'
    const e = await failure(exec()('sh', ['-c', script]))
    assert.is(e.code, 'ARV_EXEC_EXIT')
    assert.is(e.reason, 'exit')
    assert.is(e.exitCode, 3)
    assert.is(e.signal, null)
    assert.is(e.work, 'align')
    assert.equal(e.stderrTail, ['line 6', 'line 7', 'line 8', 'line 9', 'line 10', 'line 11', 'line 12', 'line 13', 'line 14', 'line 15'])
    assert.is(e.message, `work "align": \`sh -c '${script}'\` exited with status 3`)
    assert.ok(e.details!.includes('| line 15'))
  })

  test('should accept the exit statuses listed in okCodes', async () => {
    const r = await exec()('grep', ['-c', 'x'], { stdin: 'abc\n', okCodes: [0, 1] })
    assert.equal(r, { code: 1, stdout: '0\n', stderr: '' })
    const e = await failure(exec()('grep', ['x'], { stdin: 'abc\n' }))
    assert.is(e.exitCode, 1)
    assert.match(e.hint ?? '', /okCodes: \[0, 1\]/)
  })

  test('should report a command killed by a signal', async () => {
    const e = await failure(exec()('sh', ['-c', 'echo dying >&2; kill -SEGV $$']))
    assert.is(e.code, 'ARV_EXEC_SIGNAL')
    assert.is(e.signal, 'SIGSEGV')
    assert.is(e.exitCode, null)
    assert.match(e.message, /was killed by signal SIGSEGV$/)
    assert.equal(e.stderrTail, ['dying'])
  })

  test('should read stdin from a string, from bytes and from a file', async () => {
    assert.is((await exec()('cat', [], { stdin: 'text in' })).stdout, 'text in')
    assert.is((await exec()('od', ['-An', '-tx1'], { stdin: new Uint8Array([0, 255, 10]) })).stdout.trim(), '00 ff 0a')
    Fs.writeFileSync(Path.join(dir, 'in.txt'), 'from a file\n')
    assert.is((await exec({ cwd: dir })('cat', [], { stdin: { file: 'in.txt' } })).stdout, 'from a file\n')
    Fs.mkdirSync(Path.join(dir, 'sub'))
    Fs.writeFileSync(Path.join(dir, 'sub', 'in.txt'), 'from sub\n')
    await exec({ cwd: dir })('cat', [], { cwd: 'sub', stdin: { file: 'in.txt' }, stdout: { file: 'out.txt' } })
    assert.is(Fs.readFileSync(Path.join(dir, 'sub', 'out.txt'), 'utf8'), 'from sub\n', 'stream files are found from the command\'s cwd')
    assert.is((await exec()('cat', [])).stdout, '', 'no stdin means /dev/null')
  })

  test('should write stdout and stderr to files, truncating or appending', async () => {
    const out = Path.join(dir, 'out.txt')
    const err = Path.join(dir, 'err.txt')
    Fs.writeFileSync(out, 'old contents that are longer\n')
    const r = await exec()('sh', ['-c', 'echo one; echo e1 >&2'], { stdout: { file: out }, stderr: { file: err } })
    assert.equal(r, { code: 0, stdout: '', stderr: '' })
    await exec()('sh', ['-c', 'echo two; echo e2 >&2'], { stdout: { file: out, append: true }, stderr: { file: err, append: true } })
    assert.is(Fs.readFileSync(out, 'utf8'), 'one\ntwo\n')
    assert.is(Fs.readFileSync(err, 'utf8'), 'e1\ne2\n')
    const e = await failure(exec()('sh', ['-c', 'echo "from the file" >&2; exit 2'], { stderr: { file: err } }))
    assert.equal(e.stderrTail, ['from the file'], 'the tail comes from the stderr file')
  })

  test('should run in the given working directory with the added environment', async () => {
    Fs.mkdirSync(Path.join(dir, 'sub'))
    const r = await exec({ cwd: dir })('sh', ['-c', 'pwd; echo "$ADDED $HOME"'], { cwd: 'sub', env: { ADDED: 'yes' } })
    assert.is(r.stdout, `${Fs.realpathSync(Path.join(dir, 'sub'))}\nyes ${process.env['HOME']}\n`)
  })

  test('should stop the command and its children when the call is aborted', async () => {
    const controller = new AbortController()
    const pidFile = Path.join(dir, 'child.pid')
    const running = exec({ signal: controller.signal })('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`])
    while (!Fs.existsSync(pidFile) || Fs.readFileSync(pidFile, 'utf8') === '') await new Promise((r) => setTimeout(r, 10))
    const child = Number(Fs.readFileSync(pidFile, 'utf8'))
    controller.abort()
    const e = await failure(running)
    assert.is(e.code, 'ARV_EXEC_ABORTED')
    assert.ok(await gone(child), 'the background sleep was stopped with its group')
  })

  test('should not start a command when the call is already aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    const e = await failure(exec({ signal: controller.signal, cwd: dir })('touch', ['started']))
    assert.is(e.code, 'ARV_EXEC_ABORTED')
    assert.not.ok(Fs.existsSync(Path.join(dir, 'started')))
  })

  test('should stop a command at the call deadline and at its own maxRunTime', async () => {
    const e = await failure(exec({ deadline: Date.now() + 200 })('sleep', ['30']))
    assert.is(e.code, 'ARV_EXEC_TIMEOUT')
    assert.match(e.message, /`sleep 30` ran past the maxRunTime of the work and was stopped/)
    const own = await failure(exec()('sleep', ['30'], { maxRunTime: 0.2 }))
    assert.match(own.message, /ran past its maxRunTime \(0\.2 s\)/)
  })

  test('should kill a command that ignores SIGTERM after a grace period', async () => {
    const controller = new AbortController()
    const ready = Path.join(dir, 'ready')
    const running = exec({ signal: controller.signal })('perl', ['-e', `$SIG{TERM} = "IGNORE"; open(my $f, ">", "${ready}"); close $f; sleep 30`])
    // stop it only once it ignores SIGTERM
    while (!Fs.existsSync(ready)) await new Promise((r) => setTimeout(r, 10))
    controller.abort()
    const e = await failure(running)
    assert.is(e.code, 'ARV_EXEC_ABORTED')
    assert.is(e.signal, 'SIGKILL')
  })

  test('should say when a command, its working directory or its stdin file is missing', async () => {
    const missing = await failure(exec()('no-such-tool-here', ['x']))
    assert.is(missing.code, 'ARV_EXEC_NOT_STARTED')
    assert.match(missing.message, /`no-such-tool-here x` could not be started: no such file or directory/i)
    assert.match(missing.hint ?? '', /install no-such-tool-here/)
    const cwd = await failure(exec()('ls', [], { cwd: Path.join(dir, 'nope') }))
    assert.match(cwd.message, /could not be started: its cwd .*nope: no such (file or )?directory/)
    const stdin = await failure(exec()('cat', [], { stdin: { file: Path.join(dir, 'nope.txt') } }))
    assert.match(stdin.message, /its stdin .*nope\.txt: no such file or directory/)
  })

  test('should refuse arguments that are not strings', async () => {
    const e = await failure(exec()('echo', [1 as unknown as string]))
    assert.is(e.code, 'ARV_EXEC_USAGE')
    assert.match(e.message, /argument 1 is number, not a string/)
  })

  test('should fail when captured stdout exceeds maxBuffer', async () => {
    const e = await failure(exec()('head', ['-c', '2000', '/dev/zero'], { maxBuffer: 1000 }))
    assert.is(e.code, 'ARV_EXEC_OUTPUT_LIMIT')
    assert.match(e.hint ?? '', /stdout: \{ file: path \}/)
  })

  test('should redact secrets from the command line and the stderr lines', async () => {
    const secret = 'hunter2-very-secret'
    const e = await failure(exec({ redact: (s) => s.split(secret).join('***') })('sh', ['-c', `echo "using ${secret}" >&2; exit 1`]))
    assert.not.ok(Errors.format(e).includes(secret))
    assert.equal(e.stderrTail, ['using ***'])
    const token = await failure(exec()('sh', ['-c', 'echo ARVADOS_API_TOKEN=v2/zzzzz-gj3su-012345678901234/abcdefabcdef >&2; exit 1']))
    assert.not.ok(Errors.format(token).includes('abcdefabcdef'))
  })

  test('should remove its scratch files', async () => {
    await exec()('cat', [], { stdin: 'x' })
    await failure(exec()('sh', ['-c', 'exit 1']))
    assert.equal(Fs.readdirSync(dir), [])
  })

  test('should run many commands at once', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => exec()('sh', ['-c', `sleep 0.0${i % 3}; echo ${i}`])))
    assert.equal(
      results.map((r) => r.stdout),
      Array.from({ length: 20 }, (_, i) => `${i}\n`),
    )
  })

  test.run()
}

const helper = suite('Launcher.make')

helper('should fall back to starting commands directly when perl cannot be started', async () => {
  const launcher = Launcher.make({ perl: '/nonexistent/perl' })
  const r = await Exec.forCall({ work: 'w', signal: new AbortController().signal, launcher })('echo', ['still runs'])
  assert.is(r.stdout, 'still runs\n')
  assert.is(launcher.kind(), 'direct')
  await launcher.close()
})

helper('should not keep the process alive when it is not closed', () => {
  const script = `
    import * as Exec from './lib/exec.ts'
    import * as Launcher from './lib/exec/launcher.ts'
    const launcher = Launcher.make()
    const r = await Exec.forCall({ work: 'w', signal: new AbortController().signal, launcher })('echo', ['done'])
    console.log(launcher.kind(), r.stdout.trim())
  `
  const file = Path.join(root, `.exec-spec-${process.pid}.mts`)
  Fs.writeFileSync(file, script)
  try {
    const out = ChildProcess.execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', timeout: 30_000 })
    assert.is(out.trim(), 'helper done')
  } finally {
    Fs.rmSync(file, { force: true })
  }
})

helper('should report commands it was running as not started when it dies', async () => {
  const launcher = Launcher.make()
  const exec = Exec.forCall({ work: 'w', signal: new AbortController().signal, launcher })
  await exec('true')
  // the helper is the only perl process that is our child
  const helperPid = Number(ChildProcess.execFileSync('pgrep', ['-P', String(process.pid), 'perl'], { encoding: 'utf8' }).trim().split('\n')[0])
  const running = exec('sleep', ['5'])
  await new Promise((r) => setTimeout(r, 100))
  process.kill(helperPid, 'SIGKILL')
  const e = await failure(running)
  assert.is(e.code, 'ARV_EXEC_NOT_STARTED')
  assert.match(e.message, /the command launcher stopped/)
  assert.is((await exec('echo', ['after'])).stdout, 'after\n', 'later commands start with a new helper')
  assert.is(launcher.kind(), 'helper')
  await launcher.close()
})

helper.run()
