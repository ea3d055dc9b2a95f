/**
 * Pure logic of the model pages: headline metrics, confusion matrices, leaderboards, the "Try it" input
 * schema, gate check rows, serving time windows and series, and the timeline graph. No React here.
 */
import type { Schemas } from "../api/client";

type Evaluation = Schemas["Evaluation"];

/** The headline metric of a task and whether larger is better (the API's gate uses the same). */
export function headlineMetric(task: string | undefined): { metric: string; higherIsBetter: boolean } {
  return task === "regression" ? { metric: "r2", higherIsBetter: true } : { metric: "accuracy", higherIsBetter: true };
}

const LOWER_IS_BETTER = /(loss|error|mae|mse|rmse)$/i;

/** Whether a metric improves downward (loss, error, mae, rmse…). */
export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.test(metric);
}

/** The number-valued entries of a metrics object (skips confusion_matrix, per_class and anything else). */
export function numericMetrics(metrics: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!metrics || typeof metrics !== "object" || Array.isArray(metrics)) return out;
  for (const [k, v] of Object.entries(metrics as Record<string, unknown>)) {
    if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/** A few metrics to show in a table row: the task's headline first, then the other test metrics (no val_*). */
export function keyMetrics(metrics: unknown, task: string | undefined, count = 3): [string, number][] {
  const all = numericMetrics(metrics);
  const head = headlineMetric(task).metric;
  const names = Object.keys(all).filter((k) => !k.startsWith("val_"));
  names.sort((a, b) => (a === head ? -1 : b === head ? 1 : a.localeCompare(b)));
  return names.slice(0, count).map((k) => [k, all[k]]);
}

/** A metric value for people: 4 significant digits, integers as they are, "—" for none. */
export function formatMetric(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/** Bytes for people. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = bytes;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export interface ConfusionMatrix {
  labels: string[];
  /** rows: true label, columns: predicted */
  matrix: number[][];
}

function numberRows(matrix: unknown, size?: number): number[][] | null {
  if (!Array.isArray(matrix) || matrix.length === 0) return null;
  const n = size ?? matrix.length;
  if (matrix.length !== n) return null;
  for (const row of matrix) {
    if (!Array.isArray(row) || row.length !== n || !row.every((v) => typeof v === "number")) return null;
  }
  return matrix as number[][];
}

/**
 * The confusion matrix inside a metrics object, if it has a well-formed one: either {labels, matrix} or a
 * bare square matrix, whose labels are then the version's `classes` (or per_class's names, or 0..n-1).
 * `prefix` reads the validation one (`val_`).
 */
export function confusionMatrix(metrics: unknown, classes: string[] = [], prefix = ""): ConfusionMatrix | null {
  if (!metrics || typeof metrics !== "object") return null;
  const m = metrics as Record<string, unknown>;
  const cm = m[`${prefix}confusion_matrix`];
  if (Array.isArray(cm)) {
    const rows = numberRows(cm);
    if (!rows) return null;
    const perClass = m[`${prefix}per_class`];
    const named = perClass && typeof perClass === "object" ? Object.keys(perClass) : [];
    const labels =
      classes.length === rows.length ? classes : named.length === rows.length ? named : rows.map((_, i) => String(i));
    return { labels, matrix: rows };
  }
  if (!cm || typeof cm !== "object") return null;
  const { labels, matrix } = cm as { labels?: unknown; matrix?: unknown };
  if (!Array.isArray(labels)) return null;
  const rows = numberRows(matrix, labels.length);
  return rows ? { labels: labels.map(String), matrix: rows } : null;
}

/**
 * Heat-map shades, lightest to darkest, all dark enough text-wise to carry black text at AA contrast
 * (Mantine's green 0–7), so one palette reads in both colour schemes.
 */
export const HEAT = ["#ebfbee", "#d3f9d8", "#b2f2bb", "#8ce99a", "#69db7c", "#51cf66", "#40c057", "#37b24d"];

/** The shade index of a cell: its share of its row (true label), 0 → lightest, 1 → darkest. */
export function heatIndex(count: number, rowTotal: number): number {
  if (rowTotal <= 0 || count <= 0) return 0;
  const share = Math.min(1, count / rowTotal);
  return Math.max(1, Math.round(share * (HEAT.length - 1)));
}

export interface LeaderboardEntry {
  version: number;
  modelVersion: string;
  score: number | null;
  evaluation: string;
}

export interface Leaderboard {
  key: string;
  datasetVersion: string;
  dataset: string;
  split: string;
  metric: string;
  entries: LeaderboardEntry[];
}

/**
 * Evaluations grouped per evaluation set (data set version + split), one entry per model version (its
 * latest evaluation there), in version order.
 */
export function leaderboards(evaluations: Evaluation[]): Leaderboard[] {
  const boards = new Map<string, Leaderboard & { at: Map<string, string> }>();
  for (const e of evaluations) {
    const key = `${e.dataset_version}:${e.split}`;
    let board = boards.get(key);
    if (!board) {
      board = { key, datasetVersion: e.dataset_version, dataset: e.dataset, split: e.split, metric: e.metric, entries: [], at: new Map() };
      boards.set(key, board);
    }
    const seen = board.at.get(e.model_version);
    if (seen !== undefined && seen >= e.created_at) continue;
    board.at.set(e.model_version, e.created_at);
    board.entries = board.entries.filter((x) => x.modelVersion !== e.model_version);
    board.entries.push({ version: e.version, modelVersion: e.model_version, score: e.score, evaluation: e.id });
  }
  return [...boards.values()].map(({ at: _at, ...b }) => ({ ...b, entries: b.entries.sort((x, y) => x.version - y.version) }));
}

/** Bar geometry for a leaderboard: each bar's height share of the tallest score's span (scores may be negative). */
export function barScale(scores: (number | null)[]): { min: number; max: number; share: (v: number) => number } {
  const values = scores.filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values);
  const span = max - min || 1;
  return { min, max, share: (v) => (v - min) / span };
}

// ---------------------------------------------------------------- "Try it"

export interface InputField {
  name: string;
  type: "number" | "text";
}

export interface InputSchema {
  kind: "tabular" | "text" | "image" | "unknown";
  fields: InputField[];
  classes: string[];
  imageShape?: [number, number];
}

/** What a version takes as input, from its spec's `preprocessing` (feature names, text column, image shape). */
export function inputSchema(spec: unknown): InputSchema {
  const pre = (spec && typeof spec === "object" ? (spec as Record<string, unknown>).preprocessing : undefined) as
    | Record<string, unknown>
    | undefined;
  const classes = Array.isArray(pre?.classes) ? pre.classes.map(String) : [];
  if (!pre) return { kind: "unknown", fields: [], classes };
  const names = Array.isArray(pre.feature_names) ? pre.feature_names.map(String) : [];
  if (pre.kind === "text" && typeof pre.text_column === "string") {
    return { kind: "text", fields: [{ name: pre.text_column, type: "text" }], classes };
  }
  if (pre.kind === "image") {
    const shape = Array.isArray(pre.image_shape) && pre.image_shape.length === 2 ? (pre.image_shape as [number, number]) : undefined;
    return { kind: "image", fields: [], classes, imageShape: shape };
  }
  if (names.length > 0) return { kind: "tabular", fields: names.map((name) => ({ name, type: "number" })), classes };
  return { kind: "unknown", fields: [], classes };
}

/**
 * The one input to send for the form's values, or an error per field. Tabular: an object of numbers by
 * feature name; text: an object {column: text}; image: the pixels as a JSON list (in the `pixels` field).
 */
export function buildInput(
  schema: InputSchema,
  values: Record<string, string>,
): { input?: unknown; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (schema.kind === "image") {
    try {
      const parsed: unknown = JSON.parse(values.pixels ?? "");
      if (!Array.isArray(parsed)) throw new Error();
      return { input: parsed, errors };
    } catch {
      return { errors: { pixels: "Enter the pixels as a JSON list of numbers (rows of numbers)." } };
    }
  }
  const input: Record<string, unknown> = {};
  for (const field of schema.fields) {
    const raw = (values[field.name] ?? "").trim();
    if (field.type === "text") {
      if (raw === "") errors[field.name] = "Enter some text.";
      input[field.name] = values[field.name] ?? "";
      continue;
    }
    const n = Number(raw);
    if (raw === "" || !Number.isFinite(n)) errors[field.name] = "Enter a number.";
    else input[field.name] = n;
  }
  return Object.keys(errors).length ? { errors } : { input, errors };
}

/** A prediction's scores as [label, probability] pairs, most likely first. */
export function rankedScores(scores: unknown): [string, number][] {
  if (!scores || typeof scores !== "object" || Array.isArray(scores)) return [];
  return Object.entries(scores as Record<string, unknown>)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .sort((a, b) => b[1] - a[1]);
}

// ---------------------------------------------------------------- gate checks

export interface CheckRow {
  name: string;
  passed: boolean;
  detail: string;
  candidate: unknown;
  incumbent: unknown;
  threshold: unknown;
}

function pick(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
}

/** Rows for people: "1 row", "12 rows". */
function rowCount(n: number): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? "row" : "rows"}`;
}

/**
 * Gate checks as table rows, whatever their exact keys: a dry-run's {name, passed, detail, candidate,
 * incumbent, threshold} or a refused move's {check, detail} (a refused move lists failures: passed = false).
 * The leakage check's overlap reads as "12 of 150 rows" against "at most 0 rows".
 */
export function checkRows(checks: unknown): CheckRow[] {
  if (!Array.isArray(checks)) return [];
  return checks
    .filter((c): c is Record<string, unknown> => !!c && typeof c === "object")
    .map((c) => {
      const name = String(pick(c, "name", "check") ?? "check");
      const row = {
        name,
        passed: c.passed === true,
        detail: typeof c.detail === "string" ? c.detail : "",
        candidate: pick(c, "candidate", "candidate_value", "value"),
        incumbent: pick(c, "incumbent", "current", "baseline", "incumbent_value"),
        threshold: pick(c, "threshold", "min_gain", "required"),
      };
      if (name === "leakage") {
        const { overlap, pinned_rows: pinned, max_overlap: allowed } = c;
        row.candidate =
          typeof overlap !== "number" ? null : typeof pinned === "number" ? `${overlap} of ${rowCount(pinned)}` : rowCount(overlap);
        row.threshold = typeof allowed === "number" ? `at most ${rowCount(allowed)}` : undefined;
      }
      return row;
    });
}

/** A check's value for a table cell. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return formatMetric(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.map(formatValue).join(", ") || "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// ---------------------------------------------------------------- serving

export const RANGE_SECONDS = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 } as const;
export type ServingRange = keyof typeof RANGE_SECONDS;

/** The window and bucket (≤ 200 buckets, at least 60 s, on a round size) of a serving range ending at `now`. */
export function servingWindow(range: ServingRange, now: Date): { since: string; until: string; bucket: number } {
  const seconds = RANGE_SECONDS[range];
  const steps = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const bucket = steps.find((s) => seconds / s <= 200) ?? 86400;
  // end on a bucket boundary so the last bucket is whole and the query key stays stable for a while
  const until = Math.ceil(now.getTime() / 1000 / bucket) * bucket;
  return { since: new Date((until - seconds) * 1000).toISOString(), until: new Date(until * 1000).toISOString(), bucket };
}

export type ServingBucket = Schemas["ServingBucket"];

export interface ServingSeries {
  x: number[];
  requests: number[];
  refused: number[];
  failed: number[];
  p50: (number | null)[];
  p95: (number | null)[];
  accuracy: (number | null)[];
  feedback: number[];
  totals: { requests: number; refused: number; failed: number; feedback: number; correct: number };
}

/** Buckets as uPlot columns (x in seconds); empty buckets have no latency or accuracy (gaps, not zeros). */
export function servingSeries(buckets: ServingBucket[]): ServingSeries {
  const s: ServingSeries = {
    x: [],
    requests: [],
    refused: [],
    failed: [],
    p50: [],
    p95: [],
    accuracy: [],
    feedback: [],
    totals: { requests: 0, refused: 0, failed: 0, feedback: 0, correct: 0 },
  };
  for (const b of [...buckets].sort((a, c) => a.start.localeCompare(c.start))) {
    s.x.push(Date.parse(b.start) / 1000);
    s.requests.push(b.requests);
    s.refused.push(b.refused);
    s.failed.push(b.failed);
    s.p50.push(b.latency_p50_ms);
    s.p95.push(b.latency_p95_ms);
    s.accuracy.push(b.accuracy);
    s.feedback.push(b.feedback);
    s.totals.requests += b.requests;
    s.totals.refused += b.refused;
    s.totals.failed += b.failed;
    s.totals.feedback += b.feedback;
    s.totals.correct += b.correct ?? 0;
  }
  return s;
}

// ---------------------------------------------------------------- timeline

export type TimelineNode = Schemas["TimelineNode"];

export const NODE_GROUP: Record<string, string> = {
  dataset_version: "data",
  job: "job",
  model_version: "model",
  alias_move: "alias",
  predictions: "serving",
  feedback: "feedback",
  trigger_run: "trigger",
};

export const NODE_TYPE_LABEL: Record<string, string> = {
  dataset_version: "Data version",
  job: "Job",
  model_version: "Model version",
  alias_move: "Alias move",
  predictions: "Predictions",
  feedback: "Feedback",
  trigger_run: "Retrain run",
};

/** The model version a node belongs to: its ref, an alias move's target, or the id's tail (predictions:<id>). */
function nodeVersion(node: TimelineNode): string | undefined {
  if (node.ref?.type === "model_version") return node.ref.id;
  const d = node.data ?? {};
  if (node.type === "alias_move") return typeof d.version === "string" ? d.version : undefined;
  if (node.type === "predictions" || node.type === "feedback") return node.id.slice(node.id.indexOf(":") + 1) || undefined;
  return undefined;
}

/**
 * The in-app page of a timeline node, if it has one. A data set version's page needs its data set's id,
 * which the timeline does not carry: `datasetOf` maps data set version ids to data set ids.
 */
export function nodeHref(node: TimelineNode, modelId: string, datasetOf: Map<string, string> = new Map()): string | undefined {
  const ref = node.ref;
  const version = nodeVersion(node);
  switch (node.type) {
    case "dataset_version": {
      const dataset = ref ? datasetOf.get(ref.id) : undefined;
      return dataset ? `/datasets/${dataset}?version=${ref!.id}` : undefined;
    }
    case "job":
      return ref ? `/jobs/${ref.id}` : undefined;
    case "model_version":
    case "alias_move": {
      // a version of another model (a fine-tune's base, or one fine-tuned from this model) names its model
      const other = typeof node.data?.model === "string" ? node.data.model : undefined;
      return version ? `/models/${other ?? modelId}?version=${version}` : undefined;
    }
    case "predictions":
    case "feedback":
      return `/models/${modelId}/serving${version ? `?version=${version}` : ""}`;
    default:
      return undefined;
  }
}

/** A node's second line: what it counts or measures. */
export function nodeSub(node: TimelineNode, withTime = true): string {
  const d = node.data ?? {};
  const when = withTime ? shortTime(node.at) : "";
  switch (node.type) {
    case "model_version":
      return [typeof d.score === "number" ? `${d.metric} ${formatMetric(d.score)}` : String(d.format ?? ""), when].filter(Boolean).join(" · ");
    case "alias_move":
      return [d.by ? `by ${d.by}` : "", when].filter(Boolean).join(" · ");
    case "predictions":
    case "feedback":
      return `${shortTime(String(d.first_at ?? node.at ?? ""))} – ${shortTime(String(d.last_at ?? ""))}`;
    case "job":
    case "dataset_version":
      return when || String(d.source ?? "");
    case "trigger_run":
      return [d.step ? String(d.step) : "", when].filter(Boolean).join(" · ");
    default:
      return when;
  }
}

/** A short date-time for node captions and lists. */
export function shortTime(at: string | null | undefined): string {
  if (!at) return "";
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Timeline nodes in time order (undated last), for the phone list. */
export function chronological<T extends { at: string | null }>(nodes: T[]): T[] {
  return [...nodes].sort((a, b) => (a.at ?? "\uffff").localeCompare(b.at ?? "\uffff"));
}

// ---------------------------------------------------------------- model card

const HEADING = /^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$/;

/** Markdown headings of a card (lower-cased, spaces collapsed) and the text under each: the gate's reading. */
export function cardSections(card: string): Record<string, string> {
  const sections: Record<string, string[]> = {};
  let current: string | null = null;
  for (const line of (card || "").split(/\r?\n/)) {
    const match = HEADING.exec(line);
    if (match) {
      current = match[1].split(/\s+/).join(" ").toLowerCase();
      sections[current] ??= [];
    } else if (current !== null) sections[current].push(line);
  }
  return Object.fromEntries(Object.entries(sections).map(([k, v]) => [k, v.join("\n").trim()]));
}

/** The gate's required card fields that the card lacks (a heading with text under it). */
export function missingCardFields(card: string, required: string[]): string[] {
  const sections = cardSections(card);
  return required.filter((name) => !sections[name.split(/\s+/).join(" ").toLowerCase()]);
}

/** Indices of values with no value on either side: a line cannot draw them, so the chart marks them with dots. */
export function isolatedIndices(values: ArrayLike<number | null | undefined>): number[] {
  const out: number[] = [];
  const has = (i: number) => i >= 0 && i < values.length && values[i] !== null && values[i] !== undefined;
  for (let i = 0; i < values.length; i++) if (has(i) && !has(i - 1) && !has(i + 1)) out.push(i);
  return out;
}
