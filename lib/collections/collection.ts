/**
 * Collection values: an immutable Keep collection (portable data hash, manifest, files) plus the
 * capability to read its bytes. OWNED BY THE COLLECTIONS WORK (issue 3): this skeleton fixes the
 * shape the core relies on; extend it, keep these fields.
 *
 * @since 0.1.0
 */

/** @category models @since 0.1.0 */
export const TypeId = '~arvados-crunch/Collection' as const

/** @category models @since 0.1.0 */
export interface FileEntry {
  readonly path: string
  readonly size: number
}

/** @category models @since 0.1.0 */
export interface Collection {
  readonly [TypeId]: typeof TypeId
  /** portable data hash: md5 of the stripped manifest + '+' + its length */
  readonly pdh: string
  /** normalized manifest text (may carry signed locators) */
  readonly manifestText: string
  readonly files: ReadonlyArray<FileEntry>
  /** where the bytes sit on disk, when they do (a container's mount, the local store) */
  readonly mountPath: string | undefined
}

/** @category guards @since 0.1.0 */
export const isCollection = (u: unknown): u is Collection =>
  typeof u === 'object' && u !== null && (u as { [TypeId]?: unknown })[TypeId] === TypeId
