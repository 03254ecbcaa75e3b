/**
 * The environment that points a client at a running double: its API host and token, its CA
 * (written to `<dir>/ca.pem`), a short poll interval and one Keep replica. One place for what
 * every crunch spec used to spell out.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import type { Double } from './index.js'

/**
 * For a dispatcher made in the spec's own process (`Crunch.make({ env })`).
 */
export const dispatcherEnv = (double: Double, dir: string): Record<string, string> => {
  const ca = Path.join(dir, 'ca.pem')
  if (!Fs.existsSync(ca)) Fs.writeFileSync(ca, double.ca)
  return { ARVADOS_API_HOST: double.apiHost, ARVADOS_API_TOKEN: double.token, SSL_CERT_FILE: ca, CRUNCH_POLL_MS: '200', CRUNCH_KEEP_REPLICAS: '1' }
}

/**
 * For the `crunch` command run as a child process: also its own HOME (no user settings), TLS
 * checked, and no role or dispatcher inherited from the environment the specs run in.
 */
export const cliEnv = (double: Double, dir: string): Record<string, string> => ({
  ...dispatcherEnv(double, dir),
  ARVADOS_API_HOST_INSECURE: '',
  HOME: dir,
  CRUNCH_ROLE: '',
  CRUNCH_DISPATCHER: '',
})
