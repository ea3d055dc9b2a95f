/**
 * Chart maths that has nothing to do with drawing: how many points to ask the server for, which request a
 * zoom window makes, how the chart's URL state is read and written, and how several jobs' series are laid on
 * one x axis.
 */

/** Plot width in CSS px -> the `max_points` to ask for: two points (a bucket's min and max) per pixel. */
export function maxPointsFor(plotWidth: number): number {
  const w = Math.max(1, Math.round(plotWidth));
  return Math.min(20000, Math.max(200, 2 * w));
}

/** A step window on the x axis (inclusive); open ends mean "from the start" / "to the end". */
export interface StepWindow {
  from?: number;
  to?: number;
}

export interface MetricRequest {
  key: string;
  max_points: number;
  start_step?: number;
  end_step?: number;
  after_step?: number;
}

/** The request for a chart's first read: the whole series, or the zoom window, bucketed to the chart width. */
export function windowRequest(key: string, plotWidth: number, window: StepWindow = {}): MetricRequest {
  const req: MetricRequest = { key, max_points: maxPointsFor(plotWidth) };
  if (window.from !== undefined) req.start_step = Math.max(0, Math.floor(window.from));
  if (window.to !== undefined) req.end_step = Math.max(0, Math.ceil(window.to));
  if (req.start_step !== undefined && req.end_step !== undefined && req.start_step > req.end_step) {
    [req.start_step, req.end_step] = [req.end_step, req.start_step];
  }
  return req;
}

/** The request for an incremental read of a running job: exact points after the last step held. */
export function afterRequest(key: string, plotWidth: number, after: number): MetricRequest {
  return { key, max_points: maxPointsFor(plotWidth), after_step: Math.floor(after) };
}

/**
 * A drag-selection on the x axis -> the step window to put in the URL (?from=&to=), or null when the
 * selection is too narrow to mean a zoom (a click). `toStep` turns an x value into a step (identity on the
 * step axis, a time lookup on the time axis).
 */
export function selectionWindow(
  x0: number,
  x1: number,
  toStep: (x: number) => number | undefined = (x) => x,
): Required<StepWindow> | null {
  const a = toStep(Math.min(x0, x1));
  const b = toStep(Math.max(x0, x1));
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return null;
  const from = Math.max(0, Math.floor(a));
  const to = Math.max(from, Math.ceil(b));
  if (to - from < 1) return null;
  return { from, to };
}

/** The chart's view state as it sits in the URL. */
export interface ChartSearch {
  x: "step" | "time";
  smooth: number;
  from?: number;
  to?: number;
}

/** Rounds a smoothing weight to the slider's grid (0..0.99 by 0.01). */
export function clampSmooth(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.round(Math.min(0.99, Math.max(0, value)) * 100) / 100;
}

/**
 * The search params to write after a chart control changes: defaults are dropped (undefined) so URLs stay
 * short, and a zoom window with no end is cleared.
 */
export function chartSearchPatch(patch: Partial<ChartSearch>): Partial<Record<keyof ChartSearch, unknown>> {
  const out: Partial<Record<keyof ChartSearch, unknown>> = {};
  if ("x" in patch) out.x = patch.x === "step" ? undefined : patch.x;
  if ("smooth" in patch) {
    const s = clampSmooth(patch.smooth ?? 0);
    out.smooth = s === 0 ? undefined : s;
  }
  if ("from" in patch || "to" in patch) {
    out.from = patch.from;
    out.to = patch.to;
  }
  return out;
}

/** Which metric keys to chart: those in ?keys= that exist, else every key (at most `limit`). */
/** System metrics (`system/...`: CPU, memory, GPU) come after a job's own metrics when none are chosen. */
export function modelMetricsFirst(keys: string[]): string[] {
  const system = (k: string) => k.startsWith("system/");
  return [...keys.filter((k) => !system(k)), ...keys.filter(system)];
}

export function chosenKeys(available: string[], wanted: string[], limit = 12): string[] {
  const picked = wanted.filter((k) => available.includes(k));
  return picked.length ? picked : modelMetricsFirst(available).slice(0, limit);
}

/**
 * Several series on one x axis, for uPlot's AlignedData: the sorted union of their x values, and each
 * series' values at those x (null where it has no point; uPlot's spanGaps joins across them).
 */
export function alignSeries(series: { x: number[]; y: (number | null)[] }[]): [number[], ...(number | null)[][]] {
  const xs = new Set<number>();
  for (const s of series) for (const x of s.x) xs.add(x);
  const x = Array.from(xs).sort((a, b) => a - b);
  const index = new Map<number, number>();
  x.forEach((v, i) => index.set(v, i));
  const ys = series.map((s) => {
    const col: (number | null)[] = new Array(x.length).fill(null);
    s.x.forEach((v, i) => {
      col[index.get(v)!] = s.y[i];
    });
    return col;
  });
  return [x, ...ys];
}

/** Formats a metric value for tables and legends: 4 significant digits, plain integers as they are. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

const COMPACT = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: 3 });

/**
 * A y-axis tick label that fits the axis's 60 px: at most 3 significant digits, 12K for large values and
 * 2e-6 for tiny ones (uPlot's default prints 0.000002, or 0 when it rounds, and clips 100,000).
 */
export function formatTick(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (a >= 1e4) return COMPACT.format(v);
  if (a !== 0 && a < 1e-3) return v.toExponential(1).replace(".0e", "e");
  return String(Number(v.toPrecision(3)));
}

/** uPlot's `axes[].values` for a metric's y axis (formatTick for every tick). */
export const yTickValues = (_u: unknown, splits: number[]): string[] => splits.map(formatTick);

/** A metric's best direction when the server does not say: min for loss/error-like names, else max. */
export function defaultDirection(key: string): "min" | "max" {
  return /loss|error|mse|mae|rmse|perplexity/i.test(key) ? "min" : "max";
}
