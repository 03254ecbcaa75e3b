/**
 * Secondary indexes of the double's records, so that a look-up by a field (a list filtered by
 * `uuid`, `container_uuid`, `requesting_container_uuid`, `state`, a property; a collection by
 * portable data hash or name; the requests of a container) costs what it finds, not a scan of
 * every record. Records are plain objects changed in place all over cluster.ts, so an index is
 * told when a record may have changed (`note`, called from `touch` and where records are made)
 * and checks what it hands out: an entry whose record no longer has the key is skipped. Answers
 * are the same as a scan's, in the map's order (the order records were first noted).
 */

export type Rec = Record<string, unknown>

/** Records of one map by the value of one field (or any key made from a record). */
export interface FieldIndex<R extends Rec> {
  /** the record was made or may have changed */
  readonly note: (r: R) => void
  /** records whose key is `key` now */
  readonly get: (key: string) => Array<R>
  /** uuids filed under `key` (possibly stale: check the record) */
  readonly uuids: (key: string) => ReadonlySet<string>
}

const EMPTY: ReadonlySet<string> = new Set()

/**
 * An index of `records` by `keyOf` (undefined: not indexed). Lookups check the current key of
 * each record filed under it, so a change `note` missed can only hide a record that moved to
 * a new key, never show a wrong one.
 */
export const make = <R extends Rec>(records: ReadonlyMap<string, R>, keyOf: (r: R) => string | undefined): FieldIndex<R> => {
  const byKey = new Map<string, Set<string>>()
  const filed = new Map<string, string | undefined>()
  /** when each record was first noted: the map's order */
  const order = new Map<string, number>()
  const note = (r: R): void => {
    const uuid = r['uuid'] as string
    const key = keyOf(r)
    const old = filed.get(uuid)
    if (old === key && filed.has(uuid)) return
    if (!order.has(uuid)) order.set(uuid, order.size)
    if (old !== undefined) byKey.get(old)?.delete(uuid)
    filed.set(uuid, key)
    if (key === undefined) return
    let set = byKey.get(key)
    if (set === undefined) byKey.set(key, (set = new Set()))
    set.add(uuid)
  }
  const get = (key: string): Array<R> => {
    const out: Array<R> = []
    const set = byKey.get(key)
    if (set === undefined) return out
    for (const uuid of set) {
      const r = records.get(uuid)
      if (r !== undefined && keyOf(r) === key) out.push(r)
    }
    // a record filed again (its key changed back) sits late in its set
    const rank = (x: R): number => order.get(x['uuid'] as string)!
    for (let i = 1; i < out.length; i++) {
      if (rank(out[i - 1]!) > rank(out[i]!)) {
        out.sort((a, b) => rank(a) - rank(b))
        break
      }
    }
    return out
  }
  // records already there (an index made later than its map)
  for (const r of records.values()) note(r)
  return { note, get, uuids: (key) => byKey.get(key) ?? EMPTY }
}

/** A string field's value as an index key (other values are not indexed). */
export const stringField =
  (field: string) =>
  (r: Rec): string | undefined => {
    const v = r[field]
    return typeof v === 'string' ? v : undefined
  }
