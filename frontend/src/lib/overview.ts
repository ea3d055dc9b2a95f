/**
 * The Overview's model of the loop: what the page draws, computed from the API's answers.
 *
 * `OverviewModel` is the part of GET /teams/{slug}/overview/ (`Schemas["TeamOverview"]`) the page reads,
 * loosened where a number may be unknown (null is drawn as "not known yet"), so the pure logic here can be
 * tested with small literals; the API's answer is assigned to it as is (TypeScript checks they agree).
 */

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface OverviewModel {
  datasets: {
    count: number;
    recent: { id: string; name: string; task: string; versions: number; updated_at: string }[];
  };
  jobs: {
    by_status: Partial<Record<JobStatus, number>>;
    running: { id: string; kind: string; progress: number; started_at: string | null }[];
    queued: { id: string; kind: string; queue_reason: string | null; created_at: string }[];
    recent: { id: string; kind: string; status: string; finished_at: string | null }[];
  };
  models: {
    id: string;
    name: string;
    task: string;
    latest_version: { id: string | null; version: number } | null;
    aliases: Record<string, { id: string; version: number | null }>;
  }[];
  serving: { predictions_24h: number | null; feedback_24h: number | null };
  triggers: {
    id: string;
    name?: string;
    model: { id: string; name: string };
    min_feedback: number;
    feedback_waiting: number | null;
    last_fired_at: string | null;
    enabled: boolean;
  }[];
  usage: {
    running_jobs: number;
    cpu_seconds: number;
    gpu_seconds: number;
    storage_bytes: number;
    jobs: Record<string, number>;
  };
}

/** Progress of a retrain trigger toward firing: waiting / min_feedback, capped at 100. */
export function triggerProgress(waiting: number | null, min: number): { percent: number | null; ready: boolean } {
  if (waiting === null || !Number.isFinite(waiting)) return { percent: null, ready: false };
  if (min <= 0) return { percent: 100, ready: true };
  const percent = Math.max(0, Math.min(100, (waiting / min) * 100));
  return { percent, ready: waiting >= min };
}

/** Running and queued jobs of one kind. */
export function activeOfKind(model: OverviewModel, kind: string): { running: number; queued: number } {
  return {
    running: model.jobs.running.filter((j) => j.kind === kind).length,
    queued: model.jobs.queued.filter((j) => j.kind === kind).length,
  };
}

export interface LoopStage {
  key: string;
  label: string;
  /** the live number; null when not known */
  value: number | null;
  /** what the number counts */
  unit: string;
  /** a second line */
  hint: string;
  /** where the stage is driven */
  to: "/datasets" | "/jobs" | "/models" | "/submit";
  search?: Record<string, string>;
  /** something needs attention (a trigger ready to fire, a failed job) */
  attention?: boolean;
}

function plural(n: number, one: string, many = one + "s"): string {
  return `${n} ${n === 1 ? one : many}`;
}

function activeHint(a: { running: number; queued: number }): string {
  return `${a.running} running, ${a.queued} queued`;
}

/** The loop's stages that are jobs of one kind: [kind, label]. */
const JOB_STAGES = [
  ["process", "Process"],
  ["train", "Train"],
  ["evaluate", "Evaluate"],
] as const;

/**
 * The eight stages of the loop, in order: register data -> process -> train -> evaluate -> promote -> serve ->
 * feedback -> retrain, each with its live number and the page that drives it.
 */
export function loopStages(model: OverviewModel): LoopStage[] {
  const inProduction = model.models.filter((m) => "production" in m.aliases).length;
  const withAlias = model.models.filter((m) => Object.keys(m.aliases).length > 0).length;
  const enabled = model.triggers.filter((t) => t.enabled);
  const ready = enabled.filter((t) => triggerProgress(t.feedback_waiting, t.min_feedback).ready).length;
  const waitingKnown = enabled.every((t) => t.feedback_waiting !== null);
  const waiting = enabled.reduce((n, t) => n + (t.feedback_waiting ?? 0), 0);
  return [
    {
      key: "data",
      label: "Register data",
      value: model.datasets.count,
      unit: "data sets",
      hint: model.datasets.recent[0] ? `latest: ${model.datasets.recent[0].name}` : "upload or import one",
      to: "/datasets",
    },
    ...JOB_STAGES.map(([key, label]) => {
      const active = activeOfKind(model, key);
      return {
        key,
        label,
        value: active.running + active.queued,
        unit: "active jobs",
        hint: activeHint(active),
        to: "/jobs" as const,
        search: { kind: key },
      };
    }),
    {
      key: "promote",
      label: "Promote",
      value: withAlias,
      unit: "models with an alias",
      hint: `of ${plural(model.models.length, "model")}`,
      to: "/models",
    },
    {
      key: "serve",
      label: "Serve",
      value: model.serving.predictions_24h ?? inProduction,
      unit: model.serving.predictions_24h === null ? "models in production" : "predictions, 24 h",
      hint:
        model.serving.predictions_24h === null
          ? "prediction counts: not known yet"
          : `${plural(inProduction, "model")} in production`,
      to: "/models",
    },
    {
      key: "feedback",
      label: "Feedback",
      value: model.serving.feedback_24h,
      unit: "labels, 24 h",
      hint: waitingKnown && enabled.length > 0 ? `${waiting} waiting for retrain` : "true labels on predictions",
      to: "/models",
    },
    {
      key: "retrain",
      label: "Retrain",
      value: enabled.length,
      unit: "active triggers",
      hint: ready > 0 ? `${ready} ready to fire` : `${plural(model.triggers.length, "trigger")} in all`,
      to: "/models",
      attention: ready > 0,
    },
  ];
}

/** Jobs by status in a fixed order, for a compact summary ("3 running · 2 queued · 1 failed"). */
export function statusSummary(byStatus: Partial<Record<string, number>>): { status: string; count: number }[] {
  const order = ["running", "queued", "succeeded", "failed", "cancelled"];
  const known = order.filter((s) => (byStatus[s] ?? 0) > 0).map((s) => ({ status: s, count: byStatus[s] ?? 0 }));
  const rest = Object.entries(byStatus)
    .filter(([s, n]) => !order.includes(s) && (n ?? 0) > 0)
    .map(([status, count]) => ({ status, count: count ?? 0 }));
  return [...known, ...rest];
}

/** A job's progress (0..1 from the API) as a whole percentage for a bar. */
export function progressPercent(progress: number | null | undefined): number {
  if (progress === null || progress === undefined || !Number.isFinite(progress)) return 0;
  return Math.max(0, Math.min(100, Math.round(progress * 100)));
}

/** The short id shown for a UUID. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
