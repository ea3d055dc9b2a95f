/**
 * Pure helpers of the data set pages: number formatting, the schema diff of two versions, preview paging,
 * histogram bar geometry and the lineage graph's nodes and edges.
 */
import type { GraphEdge, GraphNode } from "../components/Graph";

export const SENSITIVITY_COLOR: Record<string, string> = { public: "green", internal: "blue", restricted: "red" };

/** 1536 -> "1.5 KB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A statistic for a table cell: integers as they are (with separators), others to 4 significant digits. */
export function formatStat(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs >= 1e15 || (abs !== 0 && abs < 1e-3)) return value.toExponential(3);
  if (abs >= 1e4) return Math.round(value).toLocaleString("en-US");
  return Number(value.toPrecision(4)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : value.toLocaleString("en-US");
}

/**
 * Whether the caller may read a data set's rows (preview, column statistics, download): a restricted data set's
 * are for the team's maintainers and admins (the API answers 403 to viewers and members).
 */
export function rowsReadable(sensitivity: string | undefined, maintainerOrAbove: boolean): boolean {
  return sensitivity !== "restricted" || maintainerOrAbove;
}

/** True when a version holds arrays of samples (an NPZ's images: a column `shape` of more than one axis). */
export function hasSampleColumns(schema: unknown): boolean {
  if (!schema || typeof schema !== "object") return false;
  const columns = (schema as { columns?: unknown }).columns;
  return Array.isArray(columns) && columns.some((c) => !!c && typeof c === "object" && Array.isArray((c as { shape?: unknown }).shape) && (c as { shape: unknown[] }).shape.length > 1);
}

/**
 * The download the data set page links for a version: the spreadsheet-safe CSV export (text cells starting with
 * =, +, -, @, a tab or CR get an apostrophe, so a spreadsheet does not run them), or, for a version of images
 * (no CSV form), the original file.
 */
export function versionDownload(version: { id: string; format: string; schema: unknown }): { href: string; label: string; title: string } {
  if (hasSampleColumns(version.schema))
    return {
      href: `/api/v1/dataset-versions/${version.id}/download/`,
      label: `Download ${version.format.toUpperCase()}`,
      title: "The original file (arrays of images have no CSV form)",
    };
  return {
    href: `/api/v1/dataset-versions/${version.id}/export/`,
    label: "Download CSV",
    title: "Spreadsheet-safe CSV: text cells that start with =, +, -, @, a tab or CR get an apostrophe, so no formula runs",
  };
}

/** A column of a version's schema, as the API stores it (`schema.columns`). */
export interface SchemaColumn {
  name: string;
  dtype: string;
  missing?: number;
}

/** The columns of a version's `schema` JSON (untyped in the API), tolerating anything malformed. */
export function schemaColumns(schema: unknown): SchemaColumn[] {
  if (!schema || typeof schema !== "object") return [];
  const columns = (schema as { columns?: unknown }).columns;
  if (!Array.isArray(columns)) return [];
  return columns
    .filter((c): c is Record<string, unknown> => !!c && typeof c === "object" && typeof (c as { name?: unknown }).name === "string")
    .map((c) => ({
      name: c.name as string,
      dtype: typeof c.dtype === "string" ? c.dtype : "unknown",
      missing: typeof c.missing === "number" ? c.missing : undefined,
    }));
}

export interface SchemaDiff {
  added: SchemaColumn[];
  removed: SchemaColumn[];
  changed: { name: string; from: string; to: string }[];
  unchanged: number;
  rows: { from: number; to: number; change: number; percent: number | null };
}

/** What changed from version `base` to version `other`: columns added, removed, retyped, and the row count. */
export function diffVersions(
  base: { schema: unknown; num_rows: number },
  other: { schema: unknown; num_rows: number },
): SchemaDiff {
  const a = schemaColumns(base.schema);
  const b = schemaColumns(other.schema);
  const byNameA = new Map(a.map((c) => [c.name, c]));
  const byNameB = new Map(b.map((c) => [c.name, c]));
  const added = b.filter((c) => !byNameA.has(c.name));
  const removed = a.filter((c) => !byNameB.has(c.name));
  const changed: SchemaDiff["changed"] = [];
  let unchanged = 0;
  for (const c of a) {
    const d = byNameB.get(c.name);
    if (!d) continue;
    if (d.dtype !== c.dtype) changed.push({ name: c.name, from: c.dtype, to: d.dtype });
    else unchanged += 1;
  }
  const change = other.num_rows - base.num_rows;
  return {
    added,
    removed,
    changed,
    unchanged,
    rows: { from: base.num_rows, to: other.num_rows, change, percent: base.num_rows ? (change / base.num_rows) * 100 : null },
  };
}

/** "+12 (+2.4%)", "−3 (−0.6%)", "no change". */
export function formatChange(change: number, percent: number | null): string {
  if (change === 0) return "no change";
  const sign = change > 0 ? "+" : "−";
  const pct = percent === null ? "" : ` (${sign}${Math.abs(percent).toFixed(Math.abs(percent) < 10 ? 1 : 0)}%)`;
  return `${sign}${Math.abs(change).toLocaleString("en-US")}${pct}`;
}

/** The preview's page: offset snapped to the page grid and inside the table; first/last row shown (1-based). */
export function previewPage(offset: number | undefined, limit: number, numRows: number) {
  const lastStart = numRows > 0 ? Math.floor((numRows - 1) / limit) * limit : 0;
  const start = Math.min(Math.max(0, Math.floor((offset ?? 0) / limit) * limit), lastStart);
  return {
    offset: start,
    page: start / limit + 1,
    pages: Math.max(1, Math.ceil(numRows / limit)),
    first: numRows === 0 ? 0 : start + 1,
    last: Math.min(numRows, start + limit),
  };
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  count: number;
  from: number;
  to: number;
}

/** Bars of a histogram in a `width` x `height` box (bars of non-zero counts are at least 1 px tall). */
export function histogramBars(histogram: { edges: number[]; counts: number[] }, width: number, height: number, gap = 1): Bar[] {
  const n = histogram.counts.length;
  if (n === 0) return [];
  const max = Math.max(...histogram.counts);
  const step = width / n;
  return histogram.counts.map((count, i) => {
    const h = max > 0 ? Math.max(count > 0 ? 1 : 0, (count / max) * height) : 0;
    return {
      x: i * step,
      y: height - h,
      width: Math.max(1, step - gap),
      height: h,
      count,
      from: histogram.edges[i] ?? NaN,
      to: histogram.edges[i + 1] ?? NaN,
    };
  });
}

interface LineageNodeLike {
  id: string;
  dataset: string;
  dataset_name: string;
  version: number;
  source: string;
}

interface LineageLike {
  version: LineageNodeLike;
  parents: LineageNodeLike[];
  children: LineageNodeLike[];
  models: { id: string; model: string; model_name: string; version: number }[];
}

function dataNode(v: LineageNodeLike, highlight = false): GraphNode {
  return {
    id: `d:${v.id}`,
    label: `${v.dataset_name} v${v.version}`,
    sub: highlight ? `${v.source} · this version` : v.source,
    group: "data",
    href: `/datasets/${v.dataset}?version=${v.version}`,
    highlight,
  };
}

/** The lineage graph: parents -> this version -> children, and this version -> models trained on it. */
export function lineageGraph(lineage: LineageLike): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const self = `d:${lineage.version.id}`;
  const nodes: GraphNode[] = [dataNode(lineage.version, true)];
  const edges: GraphEdge[] = [];
  const seen = new Set([self]);
  for (const p of lineage.parents) {
    const node = dataNode(p);
    if (!seen.has(node.id)) nodes.push(node);
    seen.add(node.id);
    edges.push({ source: node.id, target: self });
  }
  for (const c of lineage.children) {
    const node = dataNode(c);
    if (!seen.has(node.id)) nodes.push(node);
    seen.add(node.id);
    edges.push({ source: self, target: node.id, label: c.source === "process" ? "processed" : undefined });
  }
  for (const m of lineage.models) {
    const id = `m:${m.id}`;
    if (!seen.has(id)) {
      nodes.push({ id, label: `${m.model_name} v${m.version}`, sub: "model", group: "model", href: `/models/${m.model}?version=${m.version}` });
      seen.add(id);
    }
    edges.push({ source: self, target: id, label: "trained" });
  }
  return { nodes, edges };
}

/** Comma-separated tokens or a JSON array -> the JSON array text the API's `na_values` takes; "" for the default. */
export function naValuesField(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") return "";
  if (trimmed.startsWith("[")) return trimmed;
  return JSON.stringify(
    trimmed
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== ""),
  );
}

/** "\t" typed as two characters means a tab. */
export function delimiterField(text: string): string {
  if (text === "\\t" || text.toLowerCase() === "tab") return "\t";
  return text;
}
