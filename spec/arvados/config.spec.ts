/**
 * Specs for lib/arvados/config.ts and lib/arvados/config-file.ts: settings.conf parsing, the
 * official clients' precedence (env over file), insecure flags, missing settings, search
 * paths, and the token staying out of printed configs and errors.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Util from 'node:util'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Config from '../../lib/arvados/config.js'
import * as ConfigFile from '../../lib/arvados/config-file.js'
import * as Errors from '../../lib/errors.js'

const TOKEN = 'v2/zzzzz-gj3su-000000000000000/s3cr3tt0k3nvalue0123456789abcdefghijklmnopqrstuv'

const right = <A>(r: E.Either<Errors.SdkError, A>): A => {
  if (E.isLeft(r)) throw new Error(`expected Right, got ${Errors.format(r.left)}`)
  return r.right
}
const left = <A>(r: E.Either<Config.ConfigError, A>): Config.ConfigError => {
  if (E.isRight(r)) throw new Error('expected a ConfigError')
  return r.left
}

// ---
const parseSettings = suite('parseSettings')
parseSettings('should read KEY=VALUE lines, skipping blanks and comments', () => {
  const s = right(Config.parseSettings(`# my cluster\n\nARVADOS_API_HOST=zzzzz.example.com\n  # indented comment\nARVADOS_API_TOKEN=${TOKEN}\n`))
  assert.equal(s, { ARVADOS_API_HOST: 'zzzzz.example.com', ARVADOS_API_TOKEN: TOKEN })
})
parseSettings('should split at the first = so values may contain =', () => {
  assert.equal(right(Config.parseSettings('ARVADOS_API_TOKEN=abc=def==\r\n')), { ARVADOS_API_TOKEN: 'abc=def==' })
})
parseSettings('should reject a line without = naming the file and line, never the text', () => {
  const e = left(Config.parseSettings(`ARVADOS_API_HOST=x\n${TOKEN}\n`, '/home/u/.config/arvados/settings.conf'))
  assert.is(e._tag, 'ConfigError')
  assert.is(e.code, 'ARV_CONFIG')
  assert.ok(e.message.includes('/home/u/.config/arvados/settings.conf line 2'), e.message)
  assert.not.ok(Errors.format(e).includes('s3cr3t'))
})

// ---
const resolve = suite('resolve (precedence)')
resolve('should take settings from the file when the environment has none', () => {
  const c = right(Config.resolve({ env: {}, settingsText: `ARVADOS_API_HOST=file.example.com\nARVADOS_API_TOKEN=${TOKEN}\n`, settingsPath: '/h/settings.conf' }))
  assert.is(c.apiHost, 'file.example.com')
  assert.is(c.apiToken, TOKEN)
  assert.is(c.insecure, false)
})
resolve('should let every ARVADOS_* environment variable override the file', () => {
  const c = right(
    Config.resolve({
      env: { ARVADOS_API_HOST: 'env.example.com:8443', ARVADOS_API_HOST_INSECURE: 'yes', OTHER: 'x' },
      settingsText: `ARVADOS_API_HOST=file.example.com\nARVADOS_API_TOKEN=${TOKEN}\nARVADOS_API_HOST_INSECURE=0\n`,
    }),
  )
  assert.is(c.apiHost, 'env.example.com:8443')
  assert.is(c.apiToken, TOKEN)
  assert.is(c.insecure, true)
})
resolve('should let an empty environment variable override the file (as the official SDK does)', () => {
  const e = left(Config.resolve({ env: { ARVADOS_API_TOKEN: '' }, settingsText: `ARVADOS_API_HOST=h\nARVADOS_API_TOKEN=${TOKEN}\n` }))
  assert.equal(e.missing, ['ARVADOS_API_TOKEN'])
})
resolve('should keep TLS verification on unless the insecure flag is true', () => {
  const base = { ARVADOS_API_HOST: 'h', ARVADOS_API_TOKEN: TOKEN }
  for (const v of ['1', 't', 'TRUE', 'y', 'Yes', 'true']) assert.is(right(Config.resolve({ env: { ...base, ARVADOS_API_HOST_INSECURE: v } })).insecure, true, v)
  for (const v of ['', '0', 'false', 'no', 'off', 'insecure']) assert.is(right(Config.resolve({ env: { ...base, ARVADOS_API_HOST_INSECURE: v } })).insecure, false, v)
  assert.is(right(Config.resolve({ env: base })).insecure, false)
})
resolve('should name both missing settings and where they were looked for', () => {
  const e = left(Config.resolve({ env: {}, settingsPath: '/h/.config/arvados/settings.conf', settingsText: '# empty\n' }))
  assert.equal(e.missing, ['ARVADOS_API_HOST', 'ARVADOS_API_TOKEN'])
  assert.ok(e.message.includes('ARVADOS_API_HOST and ARVADOS_API_TOKEN are not set'), e.message)
  assert.ok(e.message.includes('/h/.config/arvados/settings.conf'), e.message)
  assert.ok((e.hint ?? '').includes('settings.conf'))
})
resolve('should name the one missing setting', () => {
  const e = left(Config.resolve({ env: { ARVADOS_API_TOKEN: TOKEN } }))
  assert.equal(e.missing, ['ARVADOS_API_HOST'])
  assert.ok(e.message.startsWith('ARVADOS_API_HOST is not set'), e.message)
  assert.not.ok(Errors.format(e).includes('s3cr3t'))
})
resolve('should drop an https:// prefix and trailing slash, and refuse http://', () => {
  assert.is(right(Config.resolve({ env: { ARVADOS_API_HOST: 'https://a.example.com/', ARVADOS_API_TOKEN: TOKEN } })).apiHost, 'a.example.com')
  const e = left(Config.resolve({ env: { ARVADOS_API_HOST: 'http://a.example.com', ARVADOS_API_TOKEN: TOKEN } }))
  assert.ok(e.message.includes('https'), e.message)
})
resolve('should read ARVADOS_KEEP_SERVICES as a list of base URLs', () => {
  const c = right(Config.resolve({ env: { ARVADOS_API_HOST: 'h', ARVADOS_API_TOKEN: TOKEN, ARVADOS_KEEP_SERVICES: ' http://k1:25107/  http://k2:25107/ ' } }))
  assert.equal(c.keepServices, ['http://k1:25107/', 'http://k2:25107/'])
})
resolve('should never show the token when the config is printed or encoded', () => {
  const c = right(Config.resolve({ env: { ARVADOS_API_HOST: 'h', ARVADOS_API_TOKEN: TOKEN } }))
  assert.is(c.apiToken, TOKEN)
  assert.not.ok(JSON.stringify(c).includes('s3cr3t'))
  assert.not.ok(Util.inspect(c).includes('s3cr3t'))
  assert.not.ok(`${Object.values(c).join(' ')}`.includes('s3cr3t'))
})

// ---
const paths = suite('settingsPaths / caBundlePaths')
paths('should search XDG_CONFIG_HOME (default ~/.config) then XDG_CONFIG_DIRS (default /etc/xdg)', () => {
  assert.equal(Config.settingsPaths({}, '/home/u'), ['/home/u/.config/arvados/settings.conf', '/etc/xdg/arvados/settings.conf'])
  assert.equal(Config.settingsPaths({ XDG_CONFIG_HOME: '/x', XDG_CONFIG_DIRS: '/a:/b/' }, '/home/u'), ['/x/arvados/settings.conf', '/a/arvados/settings.conf', '/b/arvados/settings.conf'])
  assert.equal(Config.settingsPaths({}, undefined), ['/etc/xdg/arvados/settings.conf'])
})
paths('should try SSL_CERT_FILE first, then the official SDK bundle locations', () => {
  assert.equal(Config.caBundlePaths({ SSL_CERT_FILE: '/my/ca.pem' }), [
    '/my/ca.pem',
    '/etc/arvados/ca-certificates.crt',
    '/etc/ssl/certs/ca-certificates.crt',
    '/etc/pki/tls/certs/ca-bundle.crt',
  ])
  assert.equal(Config.caBundlePaths({}), Config.CA_BUNDLE_PATHS)
})

// ---
const load = suite('ConfigFile.load')
const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-config-'))
load.after(() => Fs.rmSync(tmp, { recursive: true, force: true }))
load('should read ~/.config/arvados/settings.conf under the given home and let env override it', async () => {
  const home = Path.join(tmp, 'home')
  Fs.mkdirSync(Path.join(home, '.config', 'arvados'), { recursive: true })
  Fs.writeFileSync(Path.join(home, '.config', 'arvados', 'settings.conf'), `ARVADOS_API_HOST=file.example.com\nARVADOS_API_TOKEN=${TOKEN}\n`)
  const ca = Path.join(tmp, 'ca.pem')
  Fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n')
  const c = right(await ConfigFile.load({ SSL_CERT_FILE: ca, XDG_CONFIG_DIRS: '/nonexistent' }, home)())
  assert.is(c.apiHost, 'file.example.com')
  assert.ok((c.ca ?? '').includes('fake'))
  const d = right(await ConfigFile.load({ ARVADOS_API_HOST: 'env.example.com', SSL_CERT_FILE: ca, XDG_CONFIG_DIRS: '/nonexistent' }, home)())
  assert.is(d.apiHost, 'env.example.com')
})
load('should fail with ARV_CONFIG naming what is missing when no file exists', async () => {
  const r = await ConfigFile.load({ XDG_CONFIG_DIRS: '/nonexistent' }, Path.join(tmp, 'nohome'), { ca: 'x' })()
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_CONFIG')
    assert.ok(r.left.message.includes('ARVADOS_API_HOST and ARVADOS_API_TOKEN'))
  }
})
load('should report an unreadable settings file by path', async () => {
  const home = Path.join(tmp, 'dirhome')
  // a directory where the file should be: reading fails with EISDIR
  Fs.mkdirSync(Path.join(home, '.config', 'arvados', 'settings.conf'), { recursive: true })
  const r = await ConfigFile.load({ XDG_CONFIG_DIRS: '/nonexistent' }, home, { ca: 'x' })()
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_CONFIG')
    assert.ok(r.left.message.includes('settings.conf'), r.left.message)
    assert.ok(r.left.message.includes('EISDIR'), r.left.message)
  }
})

parseSettings.run()
resolve.run()
paths.run()
load.run()
