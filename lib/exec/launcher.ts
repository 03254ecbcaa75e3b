/**
 * How an external command is started. A `Launcher` takes a resolved request (argument array,
 * working directory, added environment variables, files for the three standard streams) and
 * gives back the process's exit, and a way to signal it. There are two:
 *
 * - `direct()`: `child_process.spawn` from this process.
 * - `make()`: long-lived helper processes, one per command running at once: a short Perl program
 *   (`perl-base` is part of every Debian and Ubuntu system, so of the `node` images too) that
 *   forks and execs each command. Forking a small Perl process is several times cheaper than
 *   forking this Node process (its page tables grow with its heap): 2-3× less time for 200 ×
 *   `sha256sum` on a 2-core machine (docs/performance.md, "Running tools"). When `perl` cannot
 *   be started, the launcher uses `direct()`; a helper that dies is replaced.
 *
 * Both put each command in its own process group and signal the group, so a tool's own
 * children are stopped with it. Neither ever runs a shell.
 *
 * A helper launcher is a resource: whoever makes one closes it (`close`) when the run ends. It
 * never keeps the event loop alive while no command is running.
 *
 * @since 0.1.0
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import type * as Net from 'node:net'
import * as Os from 'node:os'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A command to start. Stream paths are files (created or truncated for output, `append` to
 * add to them); `undefined` means `/dev/null`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Request {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  /**
   * variables added to the environment the command inherits: this process's (`direct`), or the
   * one this process had when the helper started (`make`; reading `process.env` costs about
   * 10 µs a variable, too much to send it with every command)
   */
  readonly env: Readonly<Record<string, string>> | undefined
  readonly stdin: string | undefined
  readonly stdout: Sink | undefined
  readonly stderr: Sink | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Sink {
  readonly path: string
  readonly append: boolean
}

/**
 * How a command ended: it ran and exited (or was killed by a signal), or it never ran.
 * `stage` says which step of starting it failed.
 *
 * @category models
 * @since 0.1.0
 */
export type Exit =
  | { readonly _tag: 'Exited'; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  | { readonly _tag: 'NotStarted'; readonly stage: 'exec' | 'cwd' | 'stdin' | 'stdout' | 'stderr' | 'launcher'; readonly reason: string }

/**
 * @category models
 * @since 0.1.0
 */
export interface Running {
  readonly exit: Promise<Exit>
  /** signals the command's process group; does nothing once it has exited */
  readonly kill: (signal: 'SIGTERM' | 'SIGKILL') => void
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Launcher {
  /** which way commands are started now: `helper` or `direct` */
  readonly kind: () => 'helper' | 'direct'
  readonly start: (request: Request) => Running
  /** stops the helper (its running commands get SIGTERM); the launcher then starts commands directly */
  readonly close: () => Promise<void>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const errnoReason = (e: unknown): string => {
  const code = (e as { code?: unknown }).code
  return code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'ENOTDIR' ? 'not a directory' : e instanceof Error ? e.message : String(e)
}

const openOrFail = (path: string | undefined, flags: string, stage: 'stdin' | 'stdout' | 'stderr', opened: Array<number>): number | 'ignore' | Exit => {
  if (path === undefined) return 'ignore'
  try {
    const fd = Fs.openSync(path, flags)
    opened.push(fd)
    return fd
  } catch (e) {
    return { _tag: 'NotStarted', stage, reason: `${path}: ${errnoReason(e)}` }
  }
}

const isExit = (u: unknown): u is Exit => typeof u === 'object' && u !== null && '_tag' in u

/**
 * Starts each command with `child_process.spawn` from this process.
 *
 * @category constructors
 * @since 0.1.0
 */
export const direct = (): Launcher => ({ kind: () => 'direct', start: startDirect, close: () => Promise.resolve() })

const startDirect = (r: Request): Running => {
  const opened: Array<number> = []
  const closeOpened = (): void => opened.forEach((fd) => Fs.closeSync(fd))
  const stdin = openOrFail(r.stdin, 'r', 'stdin', opened)
  const stdout = isExit(stdin) ? stdin : openOrFail(r.stdout?.path, r.stdout?.append === true ? 'a' : 'w', 'stdout', opened)
  const stderr = isExit(stdout) ? stdout : openOrFail(r.stderr?.path, r.stderr?.append === true ? 'a' : 'w', 'stderr', opened)
  if (isExit(stderr)) {
    closeOpened()
    return { exit: Promise.resolve(stderr), kill: () => undefined }
  }
  let child: ChildProcess.ChildProcess
  try {
    child = ChildProcess.spawn(r.command, r.args, { cwd: r.cwd, env: r.env === undefined ? process.env : { ...process.env, ...r.env }, stdio: [stdin as number | 'ignore', stdout as number | 'ignore', stderr], detached: true })
  } catch (e) {
    closeOpened()
    return { exit: Promise.resolve({ _tag: 'NotStarted', stage: 'exec', reason: errnoReason(e) }), kill: () => undefined }
  }
  closeOpened()
  let exited = false
  const exit = new Promise<Exit>((resolve) => {
    child.once('error', (e) => {
      exited = true
      // spawn reports a missing working directory as the command's ENOENT
      const cwdMissing = (e as { code?: unknown }).code === 'ENOENT' && !isDirectory(r.cwd)
      resolve({ _tag: 'NotStarted', stage: cwdMissing ? 'cwd' : 'exec', reason: cwdMissing ? `${r.cwd}: no such directory` : errnoReason(e) })
    })
    child.once('exit', (code, signal) => {
      exited = true
      resolve({ _tag: 'Exited', code, signal })
    })
  })
  return {
    exit,
    kill: (signal) => {
      if (exited || child.pid === undefined) return
      if (!killGroup(child.pid, signal)) child.kill(signal)
    },
  }
}

/** signals the process group led by `pid`; false when there is none */
const killGroup = (pid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false
  }
}

const isDirectory = (p: string): boolean => {
  try {
    return Fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

/**
 * The helper. Requests arrive on its stdin as NUL-terminated fields, the first field being
 * the number of fields after it: `run id cwd stdin stdout outAppend stderr errAppend nEnv
 * env... argv...` (env: added variables, `NAME=value`) or `kill id SIGNAME`. It answers one line each: `R` (ready), `P id pid`
 * (started), `X id waitStatus` (ended), `E id stage: reason` (not started). A child reports a
 * failed `exec` (or `chdir`, `open`) through a close-on-exec pipe, so a missing command is
 * known before `P`. On end of input it sends SIGTERM to every running group and exits.
 */
const HELPER = String.raw`
use strict; use warnings; use POSIX (); use Fcntl ();
$SIG{PIPE} = 'IGNORE';
binmode STDIN; binmode STDOUT; $| = 1;
pipe(my $wakeR, my $wakeW) or die "pipe: $!";
for my $h ($wakeR, $wakeW) { my $f = fcntl($h, Fcntl::F_GETFL(), 0); fcntl($h, Fcntl::F_SETFL(), $f | Fcntl::O_NONBLOCK()) }
$SIG{CHLD} = sub { syswrite($wakeW, 'x') };
my (%pidOf, %idOf);
my $buf = '';
sub answer { print STDOUT $_[0], "\n" }
sub take {
  my $i = index($buf, "\0"); return undef if $i < 0;
  my $n = substr($buf, 0, $i); my $pos = $i + 1; my @f;
  for (1 .. $n) { my $j = index($buf, "\0", $pos); return undef if $j < 0; push @f, substr($buf, $pos, $j - $pos); $pos = $j + 1 }
  substr($buf, 0, $pos) = ''; return \@f;
}
sub start {
  my ($id, $cwd, $in, $out, $outAppend, $err, $errAppend, $nEnv, @rest) = @_;
  my @env = splice(@rest, 0, $nEnv);
  pipe(my $sr, my $sw) or return answer("E $id exec: pipe: $!");
  my $pid = fork();
  return answer("E $id exec: fork: $!") unless defined $pid;
  if ($pid == 0) {
    close $sr; $SIG{CHLD} = 'DEFAULT'; $SIG{PIPE} = 'DEFAULT';
    my $fail = sub { syswrite($sw, $_[0]); POSIX::_exit(127) };
    POSIX::setpgid(0, 0);
    chdir($cwd) or $fail->("cwd: $cwd: $!");
    open(STDIN, '<', $in eq '' ? '/dev/null' : $in) or $fail->("stdin: $in: $!");
    open(STDOUT, $outAppend ? '>>' : '>', $out eq '' ? '/dev/null' : $out) or $fail->("stdout: $out: $!");
    open(STDERR, $errAppend ? '>>' : '>', $err eq '' ? '/dev/null' : $err) or $fail->("stderr: $err: $!");
    for (@env) { my ($k, $v) = split(/=/, $_, 2); $ENV{$k} = $v }
    { no warnings; exec { $rest[0] } @rest; }
    $fail->("exec: $!");
  }
  close $sw;
  my $msg = '';
  while (1) { my $n = sysread($sr, my $chunk, 4096); if (!defined $n) { next if $!{EINTR}; last } last if $n == 0; $msg .= $chunk }
  close $sr;
  if ($msg ne '') { waitpid($pid, 0); $msg =~ s/\n/ /g; return answer("E $id $msg") }
  $pidOf{$id} = $pid; $idOf{$pid} = $id;
  answer("P $id $pid");
}
sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $st = $?; my $id = delete $idOf{$pid}; next unless defined $id;
    delete $pidOf{$id}; answer("X $id $st");
  }
}
answer('R');
my $rin = ''; vec($rin, fileno(STDIN), 1) = 1; vec($rin, fileno($wakeR), 1) = 1;
while (1) {
  my $n = select(my $rout = $rin, undef, undef, undef);
  if ($n < 0) { reap(); next }
  if (vec($rout, fileno($wakeR), 1)) { sysread($wakeR, my $drain, 4096); reap() }
  if (vec($rout, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $buf, 65536, length $buf);
    if (!defined $got) { next if $!{EINTR}; $got = 0 }
    if ($got == 0) { kill('TERM', -$_) for values %pidOf; exit 0 }
    while (my $req = take()) {
      my $op = shift @$req;
      if ($op eq 'run') { start(@$req) }
      elsif ($op eq 'kill') { my $pid = $pidOf{$req->[0]}; kill($req->[1], -$pid) or kill($req->[1], $pid) if defined $pid }
    }
  }
}
`

/** signal number → name, from this platform's table */
const signalName = (n: number): NodeJS.Signals => {
  for (const [name, value] of Object.entries(Os.constants.signals)) if (value === n) return name as NodeJS.Signals
  return `SIG${n}` as NodeJS.Signals
}

/** the standard streams of a child with pipes are sockets, which can be unreferenced */
const socketOf = (s: NodeJS.ReadableStream | NodeJS.WritableStream): Net.Socket => s as Net.Socket

interface Pending {
  readonly resolve: (exit: Exit) => void
  /** known once the helper said it started */
  pid: number | undefined
}

const encode = (fields: ReadonlyArray<string>): string => `${fields.length}\0${fields.join('\0')}\0`

/** one helper process: it runs one command at a time (see `make`) */
interface Helper {
  readonly run: (r: Request, resolve: (exit: Exit) => void) => string
  readonly kill: (id: string, signal: 'SIGTERM' | 'SIGKILL') => void
  readonly busy: () => boolean
  readonly alive: () => boolean
  readonly close: () => Promise<void>
}

/** starts a helper; `undefined` when perl cannot be started */
const bootHelper = (perl: string): Promise<Helper | undefined> =>
  new Promise((resolve) => {
    const child = ChildProcess.spawn(perl, ['-e', HELPER], { stdio: ['pipe', 'pipe', 'pipe'] })
    const pending = new Map<string, Pending>()
    let nextId = 0
    let booted = false
    let dead = false
    let stderrTail = ''
    let buffered = ''

    // while a command runs, the helper's process and its answers keep the event loop alive
    const hold = (): void => {
      child.ref()
      socketOf(child.stdout).ref()
    }
    const release = (): void => {
      if (pending.size > 0) return
      child.unref()
      socketOf(child.stdout).unref()
    }
    const settle = (id: string, exit: Exit): void => {
      const p = pending.get(id)
      if (p === undefined) return
      pending.delete(id)
      p.resolve(exit)
      release()
    }
    const lost = (why: string): void => {
      dead = true
      const reason = `the command launcher stopped (${why})${stderrTail === '' ? '' : `: ${stderrTail.trim().split('\n').slice(-3).join(' / ')}`}`
      for (const [id, p] of [...pending]) {
        // its commands would run on unwatched: stop them
        if (p.pid !== undefined) killGroup(p.pid, 'SIGTERM')
        settle(id, { _tag: 'NotStarted', stage: 'launcher', reason })
      }
    }
    const onLine = (line: string): void => {
      const space = line.indexOf(' ', 2)
      const id = line.slice(2, space === -1 ? undefined : space)
      const rest = space === -1 ? '' : line.slice(space + 1)
      if (line.startsWith('P ')) {
        const p = pending.get(id)
        if (p !== undefined) p.pid = Number(rest)
      } else if (line.startsWith('X ')) {
        const status = Number(rest)
        const sig = status & 0x7f
        settle(id, sig === 0 ? { _tag: 'Exited', code: status >> 8, signal: null } : { _tag: 'Exited', code: null, signal: signalName(sig) })
      } else if (line.startsWith('E ')) {
        const colon = rest.indexOf(': ')
        const stage = rest.slice(0, colon)
        settle(id, { _tag: 'NotStarted', stage: stage === 'cwd' || stage === 'stdin' || stage === 'stdout' || stage === 'stderr' ? stage : 'exec', reason: lowerErrno(rest.slice(colon + 2)) })
      }
    }
    const helper: Helper = {
      run: (r, done) => {
        const id = String(nextId++)
        pending.set(id, { resolve: done, pid: undefined })
        hold()
        const env = r.env === undefined ? [] : Object.entries(r.env).map(([k, v]) => `${k}=${v}`)
        child.stdin.write(
          encode(['run', id, r.cwd, r.stdin ?? '', r.stdout?.path ?? '', r.stdout?.append === true ? '1' : '', r.stderr?.path ?? '', r.stderr?.append === true ? '1' : '', String(env.length), ...env, r.command, ...r.args]),
        )
        return id
      },
      kill: (id, signal) => {
        if (!dead && pending.has(id)) child.stdin.write(encode(['kill', id, signal.slice(3)]))
      },
      busy: () => pending.size > 0,
      alive: () => !dead,
      close: async () => {
        if (dead) return
        dead = true
        const gone = new Promise<void>((r) => child.once('exit', () => r()))
        // wait for it: keep the event loop alive until it has gone
        child.ref()
        child.stdin.end()
        await gone
      },
    }

    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (!booted && line === 'R') {
          booted = true
          release()
          resolve(helper)
        } else onLine(line)
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => (stderrTail = (stderrTail + chunk).slice(-2000)))
    socketOf(child.stderr).unref()
    child.stdin.on('error', () => undefined)
    const ended = (why: string): void => {
      if (!booted) {
        dead = true
        resolve(undefined)
      } else if (!dead) lost(why)
    }
    child.once('error', () => ended('error'))
    child.once('exit', (code, signal) => ended(signal === null ? `exit status ${code}` : `signal ${signal}`))
    socketOf(child.stdin).unref()
  })

/**
 * A launcher backed by Perl helpers, started on first use: one per command running at once (a
 * helper waits for its command's `exec` before it answers, so one helper per command keeps
 * commands from waiting on each other), kept for the next commands. `perl` is looked up on
 * `PATH` unless given.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: { readonly perl?: string } = {}): Launcher => {
  const fallback = direct()
  const perl = options.perl ?? 'perl'
  let closed = false
  let usable = true
  const helpers: Array<Helper> = []

  /** an idle helper, or a new one; undefined when perl cannot run (then commands start directly) */
  const idleHelper = async (): Promise<Helper | undefined> => {
    for (let i = helpers.length - 1; i >= 0; i--) if (!helpers[i]!.alive()) helpers.splice(i, 1)
    const idle = helpers.find((h) => !h.busy())
    if (idle !== undefined) return idle
    const h = await bootHelper(perl)
    if (h === undefined) {
      usable = false
      return undefined
    }
    if (closed) {
      await h.close()
      return undefined
    }
    // another command may have taken it while it booted: that is fine, it queues behind
    helpers.push(h)
    return h
  }

  const start = (r: Request): Running => {
    if (closed || !usable) return fallback.start(r)
    let delegated: Running | undefined
    let target: { readonly helper: Helper; readonly id: string } | undefined
    let ended = false
    const pendingKills: Array<'SIGTERM' | 'SIGKILL'> = []
    const exit = new Promise<Exit>((resolve) => {
      void idleHelper().then((h) => {
        if (h === undefined) {
          delegated = fallback.start(r)
          pendingKills.forEach((sig) => delegated!.kill(sig))
          void delegated.exit.then(resolve)
          return
        }
        target = { helper: h, id: h.run(r, resolve) }
        pendingKills.forEach((sig) => h.kill(target!.id, sig))
      })
    }).then((e) => {
      ended = true
      return e
    })
    return {
      exit,
      kill: (signal) => {
        if (ended) return
        if (delegated !== undefined) return delegated.kill(signal)
        if (target !== undefined) return target.helper.kill(target.id, signal)
        pendingKills.push(signal)
      },
    }
  }

  return {
    kind: () => (closed || !usable ? 'direct' : 'helper'),
    start,
    close: async () => {
      closed = true
      await Promise.all(helpers.splice(0).map((h) => h.close()))
    },
  }
}

/** `…: No such file or directory` → `…: no such file or directory`, the way node's own reasons read */
const lowerErrno = (s: string): string => {
  const i = s.lastIndexOf(': ')
  const head = i === -1 ? '' : s.slice(0, i + 2)
  const errno = i === -1 ? s : s.slice(i + 2)
  return head + errno.charAt(0).toLowerCase() + errno.slice(1)
}
