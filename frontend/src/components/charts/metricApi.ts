/**
 * Metric reads for the charts: `GET /api/v1/jobs/{id}/metrics/`. Without a key it lists the job's metric keys;
 * with one it answers the series as `points` (min/max buckets when the range holds more than `max_points`),
 * `times`, `count` (points in the range asked for), `total` and `downsampled`.
 */
import { api, unwrap, type Schemas } from "../../api/client";
import type { MetricRequest } from "../../lib/chart";

export type MetricKey = Schemas["MetricKey"];
export type SeriesAnswer = Schemas["MetricSeriesAnswer"];

export async function fetchMetricKeys(jobId: string): Promise<MetricKey[]> {
  const data = await unwrap(api.GET("/api/v1/jobs/{id}/metrics/", { params: { path: { id: jobId } } }));
  return "keys" in data ? data.keys : [];
}

export async function fetchSeries(jobId: string, req: MetricRequest, signal?: AbortSignal): Promise<SeriesAnswer> {
  const data = await unwrap(
    api.GET("/api/v1/jobs/{id}/metrics/", {
      params: { path: { id: jobId }, query: req },
      signal,
    }),
  );
  if (!("points" in data)) throw new Error(`No series for ${req.key}.`);
  return data as SeriesAnswer;
}

/** Colours for one line per job (readable on light and dark backgrounds). */
export const PALETTE = ["#228be6", "#f76707", "#12b886", "#ae3ec9", "#e03131", "#74b816", "#15aabf", "#d6336c"];

/** `#rrggbb` with an alpha, for the faded raw line under a smoothed one. */
export function fade(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

declare global {
  interface Window {
    /** performance.now() when a chart last drew a freshly loaded series (for the navigation -> draw benchmark). */
    __ecoChartDrawn?: number;
  }
}

/** Marks a draw of real data for benchmarks: `window.__ecoChartDrawn` and `data-drawn` on the chart. */
export function markDrawn(el: HTMLElement | null, points: number) {
  if (points <= 0) return;
  const now = performance.now();
  window.__ecoChartDrawn = now;
  el?.setAttribute("data-drawn", String(Math.round(now)));
}
