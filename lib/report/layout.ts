/**
 * A layered drawing of a directed graph, top to bottom: each node's layer is the longest path
 * to it from a source, nodes in a layer are ordered by the mean position of their neighbours
 * (a few sweeps down and up, as in Sugiyama-style layouts) and packed side by side, and edges are
 * curves from the bottom of a node to the top of the next. Pure geometry; no rendering.
 *
 * @since 0.1.0
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Box {
  readonly key: string
  readonly layer: number
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Line {
  readonly from: string
  readonly to: string
  /** SVG path data */
  readonly path: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Layout {
  readonly boxes: ReadonlyArray<Box>
  readonly lines: ReadonlyArray<Line>
  readonly width: number
  readonly height: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Sizes {
  readonly nodeHeight: number
  readonly layerGap: number
  readonly nodeGap: number
  readonly margin: number
}

const DEFAULT_SIZES: Sizes = { nodeHeight: 40, layerGap: 44, nodeGap: 20, margin: 12 }

// -------------------------------------------------------------------------------------
// layout
// -------------------------------------------------------------------------------------

/**
 * Lays out `nodes` (each with its width) and `edges`. Edges naming unknown nodes are ignored;
 * cycles are broken where they are found.
 *
 * @category constructors
 * @since 0.1.0
 */
export const layered = (
  nodes: ReadonlyArray<{ readonly key: string; readonly width: number }>,
  edges: ReadonlyArray<{ readonly from: string; readonly to: string }>,
  sizes: Sizes = DEFAULT_SIZES,
): Layout => {
  const width = new Map(nodes.map((n) => [n.key, n.width]))
  const preds = new Map<string, Array<string>>(nodes.map((n) => [n.key, []]))
  const succs = new Map<string, Array<string>>(nodes.map((n) => [n.key, []]))
  for (const e of edges) {
    if (!width.has(e.from) || !width.has(e.to) || e.from === e.to) continue
    preds.get(e.to)!.push(e.from)
    succs.get(e.from)!.push(e.to)
  }
  // layers: longest path from a source (iteratively, so deep chains do not overflow the stack)
  const layer = new Map<string, number>()
  const onPath = new Set<string>()
  for (const n of nodes) {
    if (layer.has(n.key)) continue
    const stack: Array<{ key: string; i: number }> = [{ key: n.key, i: 0 }]
    onPath.add(n.key)
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      const ps = preds.get(top.key)!
      if (top.i < ps.length) {
        const p = ps[top.i++]!
        if (!layer.has(p) && !onPath.has(p)) {
          onPath.add(p)
          stack.push({ key: p, i: 0 })
        }
        continue
      }
      let l = 0
      for (const p of ps) {
        const lp = layer.get(p)
        if (lp !== undefined) l = Math.max(l, lp + 1)
      }
      layer.set(top.key, l)
      onPath.delete(top.key)
      stack.pop()
    }
  }
  const layers: Array<Array<string>> = []
  for (const n of nodes) (layers[layer.get(n.key)!] ??= []).push(n.key)
  for (let i = 0; i < layers.length; i++) layers[i] ??= []
  // order within layers: barycentres of neighbours, sweeping down then up
  const pos = new Map<string, number>()
  const index = (): void => layers.forEach((row) => row.forEach((k, i) => pos.set(k, i)))
  index()
  const sweep = (rows: ReadonlyArray<Array<string>>, neighbours: Map<string, Array<string>>): void => {
    for (const row of rows) {
      const bary = new Map(row.map((k, i) => {
        const ns = neighbours.get(k)!.filter((m) => pos.has(m))
        return [k, ns.length === 0 ? i : ns.reduce((a, m) => a + pos.get(m)!, 0) / ns.length] as const
      }))
      row.sort((a, b) => bary.get(a)! - bary.get(b)!)
      row.forEach((k, i) => pos.set(k, i))
    }
  }
  for (let round = 0; round < 4; round++) {
    sweep(layers.slice(1), preds)
    sweep(layers.slice(0, -1).reverse(), succs)
  }
  // geometry: rows packed side by side, each row centred on the widest
  const rowWidth = (row: ReadonlyArray<string>): number => row.reduce((a, k) => a + width.get(k)!, 0) + Math.max(0, row.length - 1) * sizes.nodeGap
  const widest = layers.reduce((a, row) => Math.max(a, rowWidth(row)), 0)
  const boxes: Array<Box> = []
  const byKey = new Map<string, Box>()
  layers.forEach((row, l) => {
    let x = sizes.margin + (widest - rowWidth(row)) / 2
    const y = sizes.margin + l * (sizes.nodeHeight + sizes.layerGap)
    for (const k of row) {
      const b: Box = { key: k, layer: l, x, y, width: width.get(k)!, height: sizes.nodeHeight }
      boxes.push(b)
      byKey.set(k, b)
      x += b.width + sizes.nodeGap
    }
  })
  const lines: Array<Line> = []
  for (const e of edges) {
    const a = byKey.get(e.from)
    const b = byKey.get(e.to)
    if (a === undefined || b === undefined || a === b) continue
    const x1 = a.x + a.width / 2
    const y1 = a.y + a.height
    const x2 = b.x + b.width / 2
    const y2 = b.y
    const bend = Math.max(16, (y2 - y1) / 2)
    lines.push({ from: e.from, to: e.to, path: `M${r(x1)},${r(y1)} C${r(x1)},${r(y1 + bend)} ${r(x2)},${r(y2 - bend)} ${r(x2)},${r(y2)}` })
  }
  const height = sizes.margin * 2 + Math.max(1, layers.length) * sizes.nodeHeight + Math.max(0, layers.length - 1) * sizes.layerGap
  return { boxes, lines, width: Math.ceil(widest + sizes.margin * 2), height }
}

const r = (n: number): string => (Math.round(n * 10) / 10).toString()
