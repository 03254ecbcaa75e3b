/**
 * List semantics of the real server (ARVADOS-FACTS §1.4): filters, order with the
 * `modified_at desc, uuid desc` tiebreak, select, limit (default 100, capped), offset, count.
 */

export type Row = Readonly<Record<string, unknown>>

/** A 422-class problem in list parameters. */
export interface ListProblem {
  readonly status: number
  readonly message: string
}

const problem = (message: string, status = 422): ListProblem => ({ status, message })

const likeToRegExp = (pattern: string, flags: string): RegExp =>
  new RegExp('^' + [...pattern].map((c) => (c === '%' ? '[\\s\\S]*' : c === '_' ? '[\\s\\S]' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('') + '$', flags)

const compare = (a: unknown, b: unknown): number => {
  if (a === b) return 0
  if (a === null || a === undefined) return 1
  if (b === null || b === undefined) return -1
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  const sa = typeof a === 'string' ? a : JSON.stringify(a)
  const sb = typeof b === 'string' ? b : JSON.stringify(b)
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

const equal = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Resolves a filter attribute to a value: `attr`, `properties.key`, or a joined `container.attr`. */
export type Lookup = (row: Row, attr: string) => { found: boolean; value: unknown; type: string }

/** Looks up `attr` in a row described by `types` (discovery property types). */
export const plainLookup =
  (types: Readonly<Record<string, string>>, joins: Readonly<Record<string, { types: Readonly<Record<string, string>>; get: (row: Row) => Row | undefined }>> = {}): Lookup =>
  (row, attr) => {
    const dot = attr.indexOf('.')
    if (dot > 0) {
      const head = attr.slice(0, dot)
      const rest = attr.slice(dot + 1)
      const join = joins[head]
      if (join !== undefined) {
        const other = join.get(row)
        const t = join.types[rest]
        if (t === undefined) return { found: false, value: undefined, type: '' }
        return { found: true, value: other === undefined ? null : (other[rest] ?? null), type: t }
      }
      if (types[head] === 'Hash' || types[head] === 'jsonb') {
        const h = row[head] as Record<string, unknown> | null
        const v = h === null || typeof h !== 'object' ? undefined : h[rest]
        return { found: true, value: v, type: 'sub' }
      }
      return { found: false, value: undefined, type: '' }
    }
    const t = types[attr]
    if (t === undefined) return { found: false, value: undefined, type: '' }
    return { found: true, value: row[attr] ?? null, type: t }
  }

const castOperand = (type: string, operand: unknown, attr: string): unknown => {
  if ((type === 'integer' || type === 'float') && typeof operand === 'string') {
    if (operand.trim() === '' || Number.isNaN(Number(operand))) throw problem(`Invalid operand ${JSON.stringify(operand)} for integer attribute '${attr}'`)
    return Number(operand)
  }
  if (type === 'datetime' && typeof operand === 'string') return operand
  return operand
}

const asTime = (v: unknown): unknown => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) + Number(`0.${(/\.(\d+)/.exec(v)?.[1] ?? '0').slice(3)}`) : v)

/** Compiles `filters` into a predicate; throws a ListProblem for an invalid filter. */
export const compileFilters = (filters: unknown, lookup: Lookup, probe: Row): ((row: Row) => boolean) => {
  if (filters === undefined || filters === null) return () => true
  if (!Array.isArray(filters)) throw problem('Invalid filters: must be an array of [attribute, operator, operand]')
  const preds = filters.map((f: unknown): ((row: Row) => boolean) => {
    if (!Array.isArray(f) || f.length !== 3 || typeof f[1] !== 'string' || (typeof f[0] !== 'string' && !Array.isArray(f[0])))
      throw problem(`Invalid filter ${JSON.stringify(f)}: must be [attribute, operator, operand]`)
    const [attr, rawOp, operand] = f as [string | Array<string>, string, unknown]
    const op = rawOp.toLowerCase()
    const attrs = attr === 'any' ? Object.keys(probe).filter((k) => typeof probe[k] === 'string') : Array.isArray(attr) ? attr : [attr]
    for (const a of attrs) if (!lookup(probe, a).found) throw problem(`Invalid attribute '${a}' in filter`)
    const one = (a: string) => {
      // the operand as JSON text, per attribute type: worked out once, not per row. An operand
      // that does not cast (a bad integer) is left to the per-row path, which throws as before.
      const operandJson = new Map<string, string>()
      const operandSets = new Map<string, Set<string> | null>()
      return (row: Row): boolean => {
        const { value: raw, type } = lookup(row, a)
        const isTime = type === 'datetime'
        const v = isTime ? asTime(raw) : raw
        const x = (o: unknown): unknown => (isTime ? asTime(castOperand(type, o, a)) : castOperand(type, o, a))
        switch (op) {
          case '=': {
            if (operand === null) return raw === null || raw === undefined
            let json = operandJson.get(type)
            if (json === undefined) operandJson.set(type, (json = JSON.stringify(x(operand))))
            return JSON.stringify(v) === json
          }
          case '!=':
          case '<>':
            return operand === null ? raw !== null && raw !== undefined : raw === null || raw === undefined || !equal(v, x(operand))
          case '<':
            return v !== null && v !== undefined && compare(v, x(operand)) < 0
          case '<=':
            return v !== null && v !== undefined && compare(v, x(operand)) <= 0
          case '>':
            return v !== null && v !== undefined && compare(v, x(operand)) > 0
          case '>=':
            return v !== null && v !== undefined && compare(v, x(operand)) >= 0
          case 'in':
          case 'not in': {
            if (!Array.isArray(operand)) throw problem(`Invalid operand type '${typeof operand}' for '${op}' operator in filters`)
            let set = operandSets.get(type)
            if (set === undefined) {
              try {
                set = new Set(operand.map((o) => JSON.stringify(x(o))))
              } catch {
                set = null
              }
              operandSets.set(type, set)
            }
            const hit = set === null ? operand.some((o) => equal(v, x(o))) : set.has(JSON.stringify(v))
            return op === 'in' ? hit : !hit && raw !== null && raw !== undefined
          }
          case 'like':
          case 'ilike':
            if (typeof operand !== 'string') throw problem(`Invalid operand type '${typeof operand}' for '${op}' operator in filters`)
            return typeof raw === 'string' && likeToRegExp(operand, op === 'ilike' ? 'i' : '').test(raw)
          case 'exists':
            if (type === 'sub') return (raw !== undefined) === (operand !== false)
            if (typeof raw === 'object' && raw !== null && typeof operand === 'string') return Object.hasOwn(raw, operand)
            throw problem(`Invalid 'exists' filter on '${a}'`)
          case 'contains': {
            if (!Array.isArray(raw)) return false
            const wanted = Array.isArray(operand) ? operand : [operand]
            return wanted.every((w) => raw.some((r) => equal(r, w)))
          }
          case 'is_a': {
            const kinds = (Array.isArray(operand) ? operand : [operand]) as Array<unknown>
            const infixes: Record<string, string> = { 'arvados#collection': '4zz18', 'arvados#containerRequest': 'xvhdp', 'arvados#container': 'dz642', 'arvados#group': 'j7d0g', 'arvados#user': 'tpzed' }
            return typeof raw === 'string' && kinds.some((k) => typeof k === 'string' && raw.slice(6, 11) === infixes[k])
          }
          default:
            throw problem(`Invalid operator '${rawOp}' in filter`)
        }
      }
    }
    const fs = attrs.map(one)
    return attr === 'any' || Array.isArray(attr) ? (row) => fs.some((g) => g(row)) : (fs[0] as (row: Row) => boolean)
  })
  return (row) => preds.every((p) => p(row))
}

/** The rows whose `attr` is a given string, from an index; undefined when `attr` has none. */
export type IndexOf = (attr: string) => ((key: string) => ReadonlyArray<Row>) | undefined

/**
 * The rows that may match `filters`: when a filter is `=` a string or `in` a list of strings on
 * an attribute with an index, the rows the index gives for it (the smallest such set, as every
 * filter must hold); undefined when no filter can use one (test every row). It never decides a
 * match: the compiled filters are still applied to what it returns, so answers do not change.
 */
export const narrow = (filters: unknown, indexOf: IndexOf): ReadonlyArray<Row> | undefined => {
  if (!Array.isArray(filters)) return undefined
  let best: ReadonlyArray<Row> | undefined
  for (const f of filters as Array<unknown>) {
    if (!Array.isArray(f) || f.length !== 3 || typeof f[0] !== 'string' || typeof f[1] !== 'string') continue
    const op = f[1].toLowerCase()
    const operand: unknown = f[2]
    const keys = op === '=' && typeof operand === 'string' ? [operand] : op === 'in' && Array.isArray(operand) && operand.every((o) => typeof o === 'string') ? (operand as Array<string>) : undefined
    if (keys === undefined) continue
    const index = indexOf(f[0])
    if (index === undefined) continue
    let rows: ReadonlyArray<Row>
    if (keys.length === 1) rows = index(keys[0]!)
    else {
      const found = new Set<Row>()
      for (const k of new Set(keys)) for (const r of index(k)) found.add(r)
      rows = [...found]
    }
    if (best === undefined || rows.length < best.length) best = rows
  }
  return best
}

/** Parses `order` (array or comma-separated string); unknown attributes are dropped; tiebreak appended. */
export const compileOrder = (order: unknown, types: Readonly<Record<string, string>>): ((a: Row, b: Row) => number) => {
  const items = order === undefined || order === null ? [] : typeof order === 'string' ? order.split(',') : Array.isArray(order) ? order : null
  if (items === null) throw problem('Invalid order: must be an array of "attribute [asc|desc]"')
  const keys: Array<{ attr: string; dir: number }> = []
  for (const it of items) {
    if (typeof it !== 'string') throw problem('Invalid order: must be an array of "attribute [asc|desc]"')
    const [attr = '', dir = 'asc'] = it.trim().split(/\s+/)
    const bare = attr.includes('.') ? (attr.split('.').pop() ?? attr) : attr
    if (types[bare] === undefined) continue
    keys.push({ attr: bare, dir: dir.toLowerCase() === 'desc' ? -1 : 1 })
  }
  keys.push({ attr: 'modified_at', dir: -1 }, { attr: 'uuid', dir: -1 })
  return (a, b) => {
    for (const k of keys) {
      const av = a[k.attr]
      const bv = b[k.attr]
      // Postgres puts NULLs last ascending and first descending.
      const c = av === null || av === undefined || bv === null || bv === undefined ? compare(av, bv) : compare(av, bv) * k.dir
      if (c !== 0) return c
    }
    return 0
  }
}

/** Checks `select`; returns the list of attributes (or undefined for all). */
export const checkSelect = (select: unknown, types: Readonly<Record<string, string>>): ReadonlyArray<string> | undefined => {
  if (select === undefined || select === null) return undefined
  if (!Array.isArray(select) || select.some((s) => typeof s !== 'string')) throw problem('Invalid select: must be an array of attribute names')
  for (const s of select as Array<string>) if (types[s] === undefined && s !== 'kind' && s !== 'href') throw problem(`Invalid attribute '${s}' in select`)
  return select as Array<string>
}

/** Keeps the selected attributes plus `kind` and `etag`. */
export const applySelect = (row: Row, select: ReadonlyArray<string> | undefined): Row => {
  if (select === undefined) return row
  const out: Record<string, unknown> = {}
  for (const k of ['kind', 'etag', ...select]) if (k in row) out[k] = row[k]
  return out
}

/** Limit/offset/count after parameter decoding. */
export const paging = (params: Readonly<Record<string, unknown>>, maxLimit: number): { limit: number; offset: number; count: string } => {
  const limit = params['limit'] === undefined || params['limit'] === null ? 100 : Number(params['limit'])
  const offset = params['offset'] === undefined || params['offset'] === null ? 0 : Number(params['offset'])
  const count = typeof params['count'] === 'string' ? params['count'] : 'exact'
  if (!Number.isInteger(limit) || limit < 0) throw problem(`Invalid value for limit parameter: ${JSON.stringify(params['limit'])}`)
  if (!Number.isInteger(offset) || offset < 0) throw problem(`Invalid value for offset parameter: ${JSON.stringify(params['offset'])}`)
  if (count !== 'exact' && count !== 'none') throw problem(`Invalid value for count parameter: ${JSON.stringify(count)}`)
  return { limit: Math.min(limit, maxLimit), offset, count }
}
