/**
 * Metric summaries in the runs table: which extreme of a metric is "best", and at which step it was reached.
 *
 * The API sends each job's summary per metric key ({last, last_step, min, min_step, max, max_step, count,
 * direction}); `direction` is declared by the job kind, else "min" for loss/error-like names, else "max". The
 * user may flip a metric's direction (the URL's ?flip=<key>), which makes the other extreme the best.
 */

export type Direction = "min" | "max";

/** The part of a metric summary this module reads (the API's summary has more fields). */
export interface SummaryLike {
  last?: number | null;
  last_step?: number | null;
  min?: number | null;
  min_step?: number | null;
  max?: number | null;
  max_step?: number | null;
  direction?: string | null;
}

const LOWER_IS_BETTER = /loss|error|mse|mae|rmse|perplexity/i;

/** The server's default rule, for a metric whose summary carries no direction. */
export function defaultDirection(key: string): Direction {
  return LOWER_IS_BETTER.test(key) ? "min" : "max";
}

export function opposite(direction: Direction): Direction {
  return direction === "min" ? "max" : "min";
}

/** The direction the API gave (or the default rule), flipped when the user listed the key in ?flip=. */
export function effectiveDirection(key: string, apiDirection: string | null | undefined, flipped: readonly string[]): Direction {
  const base: Direction = apiDirection === "min" || apiDirection === "max" ? apiDirection : defaultDirection(key);
  return flipped.includes(key) ? opposite(base) : base;
}

/** The best value of a summary and the step where it was reached; null when the summary has none. */
export function bestOf(summary: SummaryLike | null | undefined, direction: Direction): { value: number; step: number | null } | null {
  if (!summary) return null;
  const value = direction === "min" ? summary.min : summary.max;
  const step = direction === "min" ? summary.min_step : summary.max_step;
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return { value, step: step ?? null };
}

/** Add or remove a key in the ?flip= list (kept sorted so equal views have equal URLs). */
export function toggleFlip(flipped: readonly string[], key: string): string[] {
  const next = flipped.includes(key) ? flipped.filter((k) => k !== key) : [...flipped, key];
  return next.sort();
}

/** The direction of each metric key over a page of jobs: the first summary that declares one wins. */
export function directionsOf(
  jobs: readonly { metric_summaries?: Record<string, SummaryLike | undefined> | null }[],
  declared: readonly { key: string; direction?: string | null }[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, direction } of declared) if (direction) out[key] = direction;
  for (const job of jobs) {
    for (const [key, summary] of Object.entries(job.metric_summaries ?? {})) {
      if (!(key in out) && summary?.direction) out[key] = summary.direction;
    }
  }
  return out;
}

/** A compact number for a table cell: up to 4 significant digits, exponent form for very large/small values. */
export function formatMetric(value: number | null | undefined): string {
  if (value === null || value === undefined) return "";
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}
