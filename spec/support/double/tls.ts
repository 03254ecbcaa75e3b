/**
 * A self-signed certificate for 127.0.0.1 (and localhost), made with the openssl command at start.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Path from 'node:path'

export interface KeyPair {
  readonly key: string
  readonly cert: string
}

/** Makes a fresh EC key and a self-signed certificate in `dir`; throws with openssl's output on failure. */
export const makeSelfSigned = (dir: string): KeyPair => {
  const key = Path.join(dir, 'tls.key')
  const cert = Path.join(dir, 'tls.crt')
  const r = ChildProcess.spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:TRUE'],
    { encoding: 'utf8' },
  )
  if (r.error !== undefined) throw new Error(`Arvados double: cannot run openssl to make its TLS certificate: ${r.error.message}. Install openssl.`)
  if (r.status !== 0) throw new Error(`Arvados double: openssl failed to make its TLS certificate (exit ${r.status}): ${r.stderr}`)
  return { key: Fs.readFileSync(key, 'utf8'), cert: Fs.readFileSync(cert, 'utf8') }
}
