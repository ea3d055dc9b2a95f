/**
 * Typed URL search parameters. Every view's state (filters, selections, chart options) lives in the URL so a
 * link reproduces the view; each route's `validateSearch` reads raw values through these coercers, which
 * never throw: a malformed value falls back to the default.
 */

export function str(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : fallback;
}

export function optStr(value: unknown): string | undefined {
  const s = str(value);
  return s === "" ? undefined : s;
}

export function int(value: unknown, fallback: number, min = -Infinity, max = Infinity): number {
  const n = typeof value === "number" ? value : typeof value === "string" && value !== "" ? Number(value) : NaN;
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export function optInt(value: unknown): number | undefined {
  const n = int(value, NaN);
  return Number.isNaN(n) ? undefined : n;
}

export function num(value: unknown, fallback: number, min = -Infinity, max = Infinity): number {
  const n = typeof value === "number" ? value : typeof value === "string" && value !== "" ? Number(value) : NaN;
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export function bool(value: unknown, fallback = false): boolean {
  if (value === true || value === "true" || value === "1" || value === 1) return true;
  if (value === false || value === "false" || value === "0" || value === 0) return false;
  return fallback;
}

/** A list kept as an array in the URL (TanStack Router writes arrays as JSON) or as a comma list. */
export function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v) => typeof v === "string" || typeof v === "number").map(String);
  if (typeof value === "string" && value !== "") return value.split(",").filter(Boolean);
  return [];
}

export function oneOf<T extends string>(value: unknown, choices: readonly T[], fallback: T): T {
  return choices.includes(value as T) ? (value as T) : fallback;
}

/** Drop default values so URLs stay short: {a: "", b: undefined, c: []} -> {}. */
export function compact<T extends Record<string, unknown>>(search: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(search)) {
    if (v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out as Partial<T>;
}
