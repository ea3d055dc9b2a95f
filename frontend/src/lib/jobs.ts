/**
 * The runs table's URL state: which columns are shown (?cols=), how it is ordered (?ordering=), which filters
 * apply (?status=&kind=&q=), and the API query they make.
 *
 * A column id in ?cols= is `param:<dot path>` (a job's flattened spec value) or `metric:<key>` (that metric's
 * summary: last, min, max and the step of the best).
 */
import type { operations } from "../api/schema";

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses whose jobs still change: a page holding one polls. */
export const LIVE_STATUSES: readonly string[] = ["queued", "running"];

export const PAGE_SIZE = 100;
export const DEFAULT_ORDERING = "-created_at";

/** Fields the API orders by (a header with one of these is clickable). */
export const SORTABLE = ["created_at", "started_at", "finished_at", "status", "kind", "progress"] as const;
export type SortField = (typeof SORTABLE)[number];

export function isSortable(field: string): field is SortField {
  return (SORTABLE as readonly string[]).includes(field);
}

/** The ordering in effect (the URL's, or the default), as field and direction. */
export function parseOrdering(ordering: string | undefined): { field: string; desc: boolean } {
  const value = ordering && isSortable(ordering.replace(/^-/, "")) ? ordering : DEFAULT_ORDERING;
  return { field: value.replace(/^-/, ""), desc: value.startsWith("-") };
}

/** The ?ordering= value sent to the API (an unknown field falls back to the default). */
export function orderingParam(ordering: string | undefined): string {
  const { field, desc } = parseOrdering(ordering);
  return desc ? `-${field}` : field;
}

/**
 * The ordering after a click on `field`'s header: the same field flips direction; another field starts
 * descending for times (newest first) and ascending otherwise. The default comes back as undefined (short URL).
 */
export function nextOrdering(current: string | undefined, field: SortField): string | undefined {
  const { field: now, desc } = parseOrdering(current);
  let next: string;
  if (now === field) next = desc ? field : `-${field}`;
  else next = field.endsWith("_at") ? `-${field}` : field;
  return next === DEFAULT_ORDERING ? undefined : next;
}

export type ColumnRef = { type: "param"; path: string } | { type: "metric"; key: string };

export function paramColumn(path: string): string {
  return `param:${path}`;
}

export function metricColumn(key: string): string {
  return `metric:${key}`;
}

/** Parse a ?cols= entry; unknown shapes are dropped (null). */
export function parseColumn(id: string): ColumnRef | null {
  if (id.startsWith("param:") && id.length > 6) return { type: "param", path: id.slice(6) };
  if (id.startsWith("metric:") && id.length > 7) return { type: "metric", key: id.slice(7) };
  return null;
}

export function parseColumns(ids: readonly string[]): ColumnRef[] {
  const seen = new Set<string>();
  const out: ColumnRef[] = [];
  for (const id of ids) {
    const ref = parseColumn(id);
    if (ref && !seen.has(id)) {
      seen.add(id);
      out.push(ref);
    }
  }
  return out;
}

export interface JobsSearch {
  status?: string[];
  kind?: string;
  q?: string;
  ordering?: string;
  page?: number;
}

export type JobsListQuery = NonNullable<operations["v1_jobs_list"]["parameters"]["query"]>;

/**
 * The query of GET /api/v1/jobs/ for the table's URL state (blank values left out). `status` goes out as a
 * comma list (`status=queued,running`): send it with `querySerializer: { array: { style: "form", explode: false } }`.
 */
export function jobsQuery(team: string, search: JobsSearch): JobsListQuery {
  const status = (search.status ?? []).filter((s): s is JobStatus => (JOB_STATUSES as readonly string[]).includes(s));
  const query: JobsListQuery = {
    team,
    page: Math.max(1, search.page ?? 1),
    page_size: PAGE_SIZE,
    ordering: orderingParam(search.ordering) as JobsListQuery["ordering"],
  };
  if (status.length) query.status = [...status].sort();
  if (search.kind) query.kind = search.kind as JobsListQuery["kind"];
  const q = search.q?.trim();
  if (q) query.search = q;
  return query;
}

/** Whether a page of jobs should be polled (any job on it may still change). */
export function hasLiveJobs(jobs: readonly { status: string }[] | undefined): boolean {
  return (jobs ?? []).some((j) => LIVE_STATUSES.includes(j.status));
}

/** Add or remove an id in a selection, keeping first-selected order. */
export function toggleSelected(selected: readonly string[], id: string): string[] {
  return selected.includes(id) ? selected.filter((s) => s !== id) : [...selected, id];
}

/** A param value as table text. */
export function formatParam(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  return JSON.stringify(value);
}

/** How long a job ran (or has been running, given `now`), as "1h 2m", "3m 4s" or "5s". */
export function duration(started: string | null | undefined, finished: string | null | undefined, now = Date.now()): string {
  if (!started) return "";
  const start = Date.parse(started);
  const end = finished ? Date.parse(finished) : now;
  if (!Number.isFinite(start) || !Number.isFinite(end)) return "";
  let s = Math.max(0, Math.round((end - start) / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
