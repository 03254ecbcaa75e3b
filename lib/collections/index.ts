/**
 * Collections beyond the basics re-exported by the main entry: manifests, portable data hashes,
 * trees (normalization, concatenation), materializing to a directory, and the local
 * content-addressed store. `import * as Collections from 'arvados-crunch/collections'`.
 *
 * @since 0.1.0
 */
export * as Collection from './collection.js'
export * as Codec from './codec.js'
export * as Manifest from './manifest.js'
export * as Pdh from './pdh.js'
export * as Tree from './tree.js'
export * as Materialize from './materialize.js'
export * as Store from './store.js'
export * as LocalStore from './local-store.js'
