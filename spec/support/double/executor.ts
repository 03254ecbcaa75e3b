/**
 * Runs containers for the double (placeholder: containers stay Locked until the executor lands).
 */
import type * as Cluster from './cluster.js'

export interface ExecutorOptions {
  readonly cluster: Cluster.Cluster
  readonly dir: string
  readonly apiHost: string
  readonly keepUrl: string
  readonly ca: string
  readonly caPath: string
}

export const makeExecutor = (_opts: ExecutorOptions): Cluster.Executor & { readonly stopAll: () => Promise<void> } => ({
  start: () => undefined,
  kill: () => undefined,
  stopAll: async () => undefined,
})
