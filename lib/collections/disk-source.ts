/**
 * Reading collection files from disk (a container's `/keep` mounts, a materialized tree): the
 * effectful reader given to collections whose `mountPath` is where their bytes are.
 *
 * @since 0.2.0
 */
import * as Fs from 'node:fs'
import type * as Collection from './collection.js'

/**
 * @category constructors
 * @since 0.2.0
 */
export const disk: Collection.DiskSource = {
  stream: (absolutePath, signal) => Fs.createReadStream(absolutePath, { highWaterMark: 1 << 20, ...(signal === undefined ? {} : { signal }) }) as AsyncIterable<Uint8Array>,
}
