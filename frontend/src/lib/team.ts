/**
 * Pure logic of the Team page: the audit filters in the URL turned into the API's query, token states,
 * and the role rules the member table follows.
 */

/** Actions the API writes to the audit trail, for the filter's suggestions (a prefix like "job." matches a group). */
export const AUDIT_ACTIONS = [
  "alias.delete",
  "alias.force",
  "alias.set",
  "dataset.create",
  "dataset.delete",
  "dataset.update",
  "gate.delete",
  "gate.set",
  "job.cancel",
  "job.finish",
  "job.submit",
  "membership.add",
  "membership.remove",
  "membership.role",
  "model.create",
  "model.delete",
  "model.update",
  "model_version.archive",
  "model_version.restore",
  "session.login",
  "session.logout",
  "team.create",
  "team.update",
  "token.create",
  "token.revoke",
  "trigger.create",
  "trigger.delete",
  "trigger.fire",
  "trigger.update",
] as const;

/** The action groups ("job.", "model.", ...) for prefix filtering. */
export function actionGroups(actions: readonly string[] = AUDIT_ACTIONS): string[] {
  return [...new Set(actions.map((a) => a.split(".")[0] + "."))].sort();
}

export const AUDIT_PAGE_SIZE = 25;

export interface AuditFilters {
  action?: string;
  actor?: string;
  /** a day, YYYY-MM-DD (inclusive) */
  since?: string;
  /** a day, YYYY-MM-DD (inclusive) */
  until?: string;
  page: number;
}

export interface AuditQuery {
  team: string;
  page: number;
  page_size: number;
  action?: string;
  action__startswith?: string;
  actor?: string;
  since?: string;
  until?: string;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The start (or the end) of a local calendar day as an ISO 8601 instant, or undefined for anything that is
 * not a valid YYYY-MM-DD day.
 */
export function dayBound(day: string | undefined, end: boolean): string | undefined {
  if (!day || !DAY.test(day)) return undefined;
  const [y, m, d] = day.split("-").map(Number);
  const date = end ? new Date(y, m - 1, d, 23, 59, 59, 999) : new Date(y, m - 1, d, 0, 0, 0, 0);
  if (date.getFullYear() !== y || date.getMonth() !== m - 1 || date.getDate() !== d) return undefined;
  return date.toISOString();
}

/** The audit list query for the URL's filters: an action ending in "." filters by prefix, days become instants. */
export function auditQuery(team: string, f: AuditFilters): AuditQuery {
  const q: AuditQuery = { team, page: Math.max(1, f.page), page_size: AUDIT_PAGE_SIZE };
  const action = f.action?.trim();
  if (action) {
    if (action.endsWith(".")) q.action__startswith = action;
    else q.action = action;
  }
  const actor = f.actor?.trim();
  if (actor) q.actor = actor;
  const since = dayBound(f.since, false);
  const until = dayBound(f.until, true);
  if (since) q.since = since;
  if (until) q.until = until;
  return q;
}

/** Pages needed for `count` items. */
export function pageCount(count: number, pageSize = AUDIT_PAGE_SIZE): number {
  return Math.max(1, Math.ceil(count / pageSize));
}

/** A Date as the YYYY-MM-DD of its local day (for the URL), or undefined. */
export function toDay(date: Date | null | undefined): string | undefined {
  if (!date || Number.isNaN(date.getTime())) return undefined;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export type TokenState = "active" | "revoked" | "expired";

export function tokenState(
  t: { revoked_at?: string | null; expires_at?: string | null },
  now: number = Date.now(),
): TokenState {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && Date.parse(t.expires_at) <= now) return "expired";
  return "active";
}

/** Expiry choices for a new token; 0 means never, undefined the server's default. */
export const TOKEN_EXPIRY = [
  { value: "", label: "Server default" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "0", label: "Never" },
] as const;

export function expiryDays(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** A short, readable one-line summary of an audit event's data object. */
export function summarizeData(data: unknown, max = 120): string {
  if (data === null || data === undefined) return "";
  if (typeof data !== "object") return String(data).slice(0, max);
  const entries = Object.entries(data as Record<string, unknown>);
  if (entries.length === 0) return "";
  const text = entries
    .map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(", ");
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}
