/**
 * A metric series as the chart holds it (column arrays, ready for uPlot), built from the API's answer
 * (`points: [[step, value], ...]`, `times: [epoch s, ...]`) and grown by incremental reads (`after_step`).
 *
 * Nothing here averages: a series thinned client-side keeps each bucket's lowest and highest point, the
 * same rule the server uses, so a spike in the raw data is always drawn.
 */

export interface Series {
  steps: number[];
  /** null where the value is NaN or infinite (logged through MLflow): a gap in the line */
  values: (number | null)[];
  /** each point's recorded time (epoch seconds); empty when the server sent none */
  times: number[];
  /** points in the range the series stands for (the server's `count`, grown by appended points) */
  count: number;
  /** whether `steps` is a min/max selection of that range rather than every point */
  downsampled: boolean;
}

export const EMPTY_SERIES: Series = { steps: [], values: [], times: [], count: 0, downsampled: false };

/** The parts of a metric answer the chart reads (`times` and `count` may be absent on older servers). */
export interface SeriesAnswer {
  points: (number | null)[][];
  times?: number[];
  count?: number;
  downsampled?: boolean;
}

export function fromAnswer(answer: SeriesAnswer): Series {
  const n = answer.points.length;
  const steps = new Array<number>(n);
  const values = new Array<number | null>(n);
  for (let i = 0; i < n; i++) {
    steps[i] = answer.points[i][0] as number;
    values[i] = answer.points[i][1];
  }
  const times = answer.times && answer.times.length === n ? answer.times.slice() : [];
  return { steps, values, times, count: answer.count ?? n, downsampled: answer.downsampled ?? false };
}

/** The last step the series holds (-1 when empty): the `after_step` of the next incremental read. */
export function lastStep(series: Series): number {
  return series.steps.length ? series.steps[series.steps.length - 1] : -1;
}

/**
 * Appends the points of an incremental read. Only points after the series' last step are taken (a repeated
 * or out-of-order answer adds nothing), so merging the same answer twice is harmless. Returns the same
 * object when nothing is new, so React skips a redraw.
 */
export function mergeAfter(series: Series, answer: SeriesAnswer): Series {
  const last = lastStep(series);
  const keepTimes = series.times.length === series.steps.length && !!answer.times && answer.times.length === answer.points.length;
  let start = 0;
  while (start < answer.points.length && (answer.points[start][0] as number) <= last) start++;
  if (start >= answer.points.length) return series;
  const steps = series.steps.slice();
  const values = series.values.slice();
  const times = keepTimes ? series.times.slice() : [];
  let prev = last;
  let added = 0;
  for (let i = start; i < answer.points.length; i++) {
    const [step, value] = answer.points[i] as [number, number | null];
    if (step <= prev) continue; // the server answers in step order; guard anyway
    steps.push(step);
    values.push(value);
    if (keepTimes) times.push(answer.times![i]);
    prev = step;
    added++;
  }
  return { steps, values, times, count: series.count + added, downsampled: series.downsampled };
}

/**
 * Thins a series to at most `maxPoints` points by min/max buckets: `maxPoints / 2` buckets of equal step range,
 * each keeping its lowest and its highest point (in step order). The first and last points are kept too.
 * A series that already fits comes back unchanged.
 */
export function minMaxBuckets(series: Series, maxPoints: number): Series {
  const n = series.steps.length;
  if (n <= maxPoints || maxPoints < 2) return series;
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const first = series.steps[0];
  const span = series.steps[n - 1] - first + 1;
  const keep: number[] = [];
  let i = 0;
  for (let b = 0; b < buckets && i < n; b++) {
    const end = first + Math.ceil(((b + 1) * span) / buckets); // exclusive
    let lo = -1;
    let hi = -1;
    for (; i < n && series.steps[i] < end; i++) {
      const v = series.values[i];
      if (v === null) continue; // a gap is neither a bucket's low nor its high
      if (lo < 0 || v < (series.values[lo] as number)) lo = i;
      if (hi < 0 || v > (series.values[hi] as number)) hi = i;
    }
    if (lo < 0) continue;
    if (lo === hi) keep.push(lo);
    else keep.push(Math.min(lo, hi), Math.max(lo, hi));
  }
  const hasTimes = series.times.length === n;
  return {
    steps: keep.map((k) => series.steps[k]),
    values: keep.map((k) => series.values[k]),
    times: hasTimes ? keep.map((k) => series.times[k]) : [],
    count: series.count,
    downsampled: true,
  };
}

/** The step recorded at (or just before) time `t`, for turning a zoom on the time axis into a step window. */
export function stepAtTime(series: Series, t: number): number | undefined {
  const { times, steps } = series;
  if (!times.length) return undefined;
  let lo = 0;
  let hi = times.length - 1;
  if (t <= times[0]) return steps[0];
  if (t >= times[hi]) return steps[hi];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return steps[lo];
}

/** A log line as the API sends it. */
export interface LogLine {
  id: number;
  time: string;
  line: string;
}

/** Appends lines read with `?after=`, skipping any already held (by id), keeping at most `limit` (the newest). */
export function appendLines(held: LogLine[], incoming: LogLine[], limit = 5000): LogLine[] {
  const last = held.length ? held[held.length - 1].id : -Infinity;
  const fresh = incoming.filter((l) => l.id > last);
  if (!fresh.length) return held;
  const all = held.concat(fresh);
  return all.length > limit ? all.slice(all.length - limit) : all;
}

/**
 * Splits a line into the parts that match `query` (case-insensitive) and those that do not, for highlighting.
 * An empty query gives the whole line as one unmatched part; a line without a match gives null.
 */
export function matchParts(line: string, query: string): { text: string; match: boolean }[] | null {
  if (!query) return [{ text: line, match: false }];
  const hay = line.toLowerCase();
  const needle = query.toLowerCase();
  const parts: { text: string; match: boolean }[] = [];
  let from = 0;
  for (;;) {
    const at = hay.indexOf(needle, from);
    if (at < 0) break;
    if (at > from) parts.push({ text: line.slice(from, at), match: false });
    parts.push({ text: line.slice(at, at + needle.length), match: true });
    from = at + needle.length;
  }
  if (!parts.length) return null;
  if (from < line.length) parts.push({ text: line.slice(from), match: false });
  return parts;
}
