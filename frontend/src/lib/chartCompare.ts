/**
 * Comparing jobs: their params side by side (which rows differ) and the layout of a parallel-coordinates
 * view (one vertical axis per numeric param plus the chosen metric, one polyline per job).
 */

export type Scalar = string | number | boolean | null;

/**
 * A spec flattened to dot paths of its scalar leaves ({"hyperparameters": {"lr": 0.01}} ->
 * {"hyperparameters.lr": 0.01}); lists of scalars become one comma-joined string. Used when the server sends
 * no `params` of its own.
 */
export function flattenParams(spec: unknown, prefix = "", out: Record<string, Scalar> = {}): Record<string, Scalar> {
  if (spec === null || typeof spec !== "object") {
    if (prefix) out[prefix] = spec as Scalar;
    return out;
  }
  if (Array.isArray(spec)) {
    if (spec.every((v) => v === null || typeof v !== "object")) {
      if (prefix) out[prefix] = spec.map(String).join(", ");
    } else {
      spec.forEach((v, i) => flattenParams(v, prefix ? `${prefix}.${i}` : String(i), out));
    }
    return out;
  }
  for (const [k, v] of Object.entries(spec as Record<string, unknown>)) {
    flattenParams(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

export interface ParamRow {
  key: string;
  values: (Scalar | undefined)[];
  differs: boolean;
}

function same(a: Scalar | undefined, b: Scalar | undefined): boolean {
  return a === b || (typeof a === "number" && typeof b === "number" && Number.isNaN(a) && Number.isNaN(b));
}

/** One row per param path any job has (sorted), with each job's value and whether they differ. */
export function paramRows(params: Record<string, Scalar>[], onlyDiffering = false): ParamRow[] {
  const keys = new Set<string>();
  for (const p of params) for (const k of Object.keys(p)) keys.add(k);
  const rows = Array.from(keys)
    .sort()
    .map((key) => {
      const values = params.map((p) => (key in p ? p[key] : undefined));
      const differs = values.some((v) => !same(v, values[0]));
      return { key, values, differs };
    });
  return onlyDiffering ? rows.filter((r) => r.differs) : rows;
}

/** One axis of the parallel-coordinates view. */
export interface PcAxis {
  key: string;
  min: number;
  max: number;
  /** whether this axis is the metric (drawn last, and what the lines are coloured by) */
  metric: boolean;
}

export interface PcLine {
  id: string;
  /** y in 0..1 per axis (0 = bottom = axis min), null where the job has no value */
  ys: (number | null)[];
  /** 0..1 position of the job's metric value in the metric's range (for colouring), null when missing */
  shade: number | null;
}

/**
 * Lays out the view: axes for the params that are numeric for every job that has them and vary (or are the
 * only ones), then the metric axis; each job's line as normalised heights.
 */
export function parallelLayout(
  jobs: { id: string; params: Record<string, Scalar>; metric: number | null | undefined }[],
  metricKey: string,
): { axes: PcAxis[]; lines: PcLine[] } {
  const keys = new Set<string>();
  for (const j of jobs) for (const [k, v] of Object.entries(j.params)) if (typeof v === "number" && Number.isFinite(v)) keys.add(k);
  const numeric = Array.from(keys)
    .sort()
    .filter((k) => jobs.every((j) => !(k in j.params) || j.params[k] === null || typeof j.params[k] === "number"));
  const varying = numeric.filter((k) => new Set(jobs.map((j) => j.params[k])).size > 1);
  const paramKeys = varying.length ? varying : numeric;
  const range = (vals: number[]) => ({ min: vals.length ? Math.min(...vals) : 0, max: vals.length ? Math.max(...vals) : 1 });
  const axes: PcAxis[] = paramKeys.map((key) => ({
    key,
    ...range(jobs.map((j) => j.params[key]).filter((v): v is number => typeof v === "number" && Number.isFinite(v))),
    metric: false,
  }));
  const metricVals = jobs.map((j) => j.metric).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  axes.push({ key: metricKey, ...range(metricVals), metric: true });
  const norm = (v: unknown, a: PcAxis): number | null => {
    if (typeof v !== "number" || !Number.isFinite(v)) return null;
    return a.max === a.min ? 0.5 : (v - a.min) / (a.max - a.min);
  };
  const lines = jobs.map((j) => {
    const ys = axes.map((a) => norm(a.metric ? j.metric : j.params[a.key], a));
    return { id: j.id, ys, shade: ys[ys.length - 1] };
  });
  return { axes, lines };
}
