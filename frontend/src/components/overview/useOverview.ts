/**
 * The Overview's data, refetched every 5 s. Built from the list endpoints the API has today (a handful of
 * small calls); see lib/overview.ts for the contract of the one-call overview endpoint that will replace them.
 */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { OverviewModel } from "../../lib/overview";

export const OVERVIEW_REFRESH_MS = 5_000;

async function loadOverview(team: string): Promise<OverviewModel> {
  const [datasets, running, queued, recent, models, triggers, usage] = await Promise.all([
    unwrap(api.GET("/api/v1/datasets/", { params: { query: { team, page_size: 5 } } })),
    unwrap(api.GET("/api/v1/jobs/", { params: { query: { team, status: "running", page_size: 20 } } })),
    unwrap(api.GET("/api/v1/jobs/", { params: { query: { team, status: "queued", page_size: 20 } } })),
    unwrap(api.GET("/api/v1/jobs/", { params: { query: { team, page_size: 5 } } })),
    unwrap(api.GET("/api/v1/models/", { params: { query: { team, page_size: 50 } } })),
    unwrap(api.GET("/api/v1/triggers/", { params: { query: { team, page_size: 50 } } })),
    unwrap(api.GET("/api/v1/teams/{slug}/usage/", { params: { path: { slug: team } } })),
  ]);
  const modelName = new Map(models.results.map((m) => [m.id, m.name]));
  return {
    datasets: {
      count: datasets.count,
      recent: datasets.results.map((d) => ({
        id: d.id,
        name: d.name,
        task: d.task,
        versions: d.num_versions,
        updated_at: d.updated_at,
      })),
    },
    jobs: {
      by_status: usage.jobs,
      running: running.results.map((j) => ({ id: j.id, kind: j.kind, progress: j.progress, started_at: j.started_at })),
      queued: queued.results.map((j) => ({ id: j.id, kind: j.kind, queue_reason: null, created_at: j.created_at })),
      recent: recent.results.map((j) => ({ id: j.id, kind: j.kind, status: j.status, finished_at: j.finished_at })),
    },
    models: models.results.map((m) => ({
      id: m.id,
      name: m.name,
      task: m.task,
      latest_version: m.latest_version === null ? null : { id: null, version: m.latest_version },
      aliases: Object.fromEntries(Object.entries(m.aliases).map(([alias, id]) => [alias, { id, version: null }])),
    })),
    serving: { predictions_24h: null, feedback_24h: null },
    triggers: triggers.results.map((t) => ({
      id: t.id,
      name: t.name ?? "",
      model: { id: t.model, name: modelName.get(t.model) ?? "a model" },
      min_feedback: t.min_feedback,
      feedback_waiting: null,
      last_fired_at: t.feedback_seen_until,
      enabled: t.enabled ?? true,
    })),
    usage,
  };
}

export function useOverview(team: string | undefined) {
  return useQuery({
    queryKey: ["team", team, "overview"],
    queryFn: () => loadOverview(team as string),
    enabled: Boolean(team),
    refetchInterval: OVERVIEW_REFRESH_MS,
  });
}
