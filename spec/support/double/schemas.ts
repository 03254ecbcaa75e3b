/**
 * The discovery-derived schemas (spec/fixtures/arvados/api-schemas.json): method routing and the
 * checks the real server applies to parameters and resource attributes.
 */
import * as Fs from 'node:fs'
import * as Url from 'node:url'

export interface ParamSpec {
  readonly type: string
  readonly required: boolean
  readonly location: string
  readonly default?: string
}

export interface MethodSpec {
  readonly httpMethod: string
  readonly path: string
  readonly parameters: Readonly<Record<string, ParamSpec>>
  readonly requestBodyWrapper: string | null
  readonly requestBodyRequired: boolean
  readonly response?: string
}

export interface Schemas {
  readonly revision: string
  readonly resources: Readonly<Record<string, Readonly<Record<string, MethodSpec>>>>
  readonly schemas: Readonly<Record<string, { readonly uuidPrefix: string; readonly properties: Readonly<Record<string, string>> }>>
}

/** Loads the schemas copied into spec/fixtures/arvados. */
export const load = (): Schemas =>
  JSON.parse(Fs.readFileSync(Url.fileURLToPath(new URL('../../fixtures/arvados/api-schemas.json', import.meta.url)), 'utf8')) as Schemas

export interface Route {
  readonly resource: string
  readonly method: string
  readonly spec: MethodSpec
  readonly uuid?: string
}

/** Finds the method for an HTTP verb and a path relative to /arvados/v1/; literal segments win over `{uuid}`. */
export const route = (schemas: Schemas, verb: string, path: string): Route | undefined => {
  const segs = path.split('/').filter((s) => s !== '')
  let best: { r: Route; literal: number } | undefined
  for (const [resource, methods] of Object.entries(schemas.resources))
    for (const [method, spec] of Object.entries(methods)) {
      if (spec.httpMethod !== verb) continue
      const tsegs = spec.path.split('/')
      if (tsegs.length !== segs.length) continue
      let uuid: string | undefined
      let literal = 0
      let ok = true
      for (const [i, t] of tsegs.entries()) {
        const s = segs[i] as string
        if (t === '{uuid}') uuid = decodeURIComponent(s)
        else if (t === s) literal++
        else ok = false
      }
      if (ok && (best === undefined || literal > best.literal)) best = { r: uuid === undefined ? { resource, method, spec } : { resource, method, spec, uuid }, literal }
    }
  return best?.r
}

/** Attributes a resource accepts beyond its discovery properties. */
export const extraWritable: Readonly<Record<string, ReadonlyArray<string>>> = {
  ContainerRequest: ['secret_mounts', 'runtime_token'],
  Container: ['secret_mounts', 'runtime_token'],
}

/** The type problem of an attribute value, or undefined. */
export const attributeTypeProblem = (type: string, v: unknown): string | undefined => {
  if (v === null) return undefined
  switch (type) {
    case 'string':
    case 'text':
    case 'datetime':
      return typeof v === 'string' ? undefined : 'must be a string'
    case 'Hash':
      return typeof v === 'object' && !Array.isArray(v) ? undefined : 'must be a hash'
    case 'Array':
      return Array.isArray(v) ? undefined : 'must be an array'
    case 'integer':
      return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v)) ? undefined : 'must be an integer'
    case 'float':
      return typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) ? undefined : 'must be a number'
    case 'boolean':
      return typeof v === 'boolean' || v === 'true' || v === 'false' ? undefined : 'must be a boolean'
    default:
      return undefined
  }
}

/** Casts an accepted attribute value to its JSON type (Rails casts "5" to 5, "true" to true). */
export const castAttribute = (type: string, v: unknown): unknown => {
  if (v === null) return v
  if (type === 'integer' && typeof v === 'string') return Number(v)
  if (type === 'float' && typeof v === 'string') return Number(v)
  if (type === 'boolean' && typeof v === 'string') return v === 'true'
  return v
}
