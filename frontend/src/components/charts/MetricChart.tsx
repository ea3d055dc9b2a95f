/**
 * One metric of one job on uPlot, drawn truthfully:
 * - asks the server for min/max buckets sized to the plot (max_points = 2 x plot width in px), so every spike
 *   of the raw series stays visible, and says "showing N of M points";
 * - a drag-select on x zooms: the page puts the step window in the URL and the chart reads the exact points
 *   of that window (start_step/end_step);
 * - smoothing (debiased EMA) is a second line over the raw one, which stays visible, faded;
 * - a running job's chart polls `after_step` every 1.5 s and appends what is new (no full refetch);
 * - x is the step or the recorded time.
 */
import { Badge, Group, Paper, Text, Title } from "@mantine/core";
import { useDebouncedValue, useElementSize } from "@mantine/hooks";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import type uPlot from "uplot";
import { afterRequest, maxPointsFor, selectionWindow, windowRequest, yTickValues, type StepWindow } from "../../lib/chart";
import { EMPTY_SERIES, fromAnswer, lastStep, mergeAfter, minMaxBuckets, stepAtTime, type Series } from "../../lib/series";
import { ema } from "../../lib/smoothing";
import { ErrorState, Loading } from "../states";
import { UPlot, useAxisColors } from "../UPlot";
import { PALETTE, fade, fetchSeries, markDrawn } from "./metricApi";

export const POLL_MS = 1500;
const SETTLE_MS = 100;
const HEIGHT = 240;
/** Room uPlot keeps for the y axis; the plot area is the rest of the width. */
const Y_AXIS_PX = 60;

export interface MetricChartProps {
  jobId: string;
  metricKey: string;
  /** poll for new points (the job is running) */
  live: boolean;
  x: "step" | "time";
  smooth: number;
  window: StepWindow;
  onZoom: (window: StepWindow) => void;
  color?: string;
}

/** Rounds the plot width so small resizes do not refetch. */
function plotWidthFor(containerWidth: number): number {
  return Math.max(100, Math.ceil((containerWidth - Y_AXIS_PX) / 50) * 50);
}

export function MetricChart({ jobId, metricKey, live, x, smooth, window: win, onZoom, color = PALETTE[0] }: MetricChartProps) {
  const { ref: sizeRef, width } = useElementSize();
  const plotWidth = plotWidthFor(width);
  // the series is read for a width that has held still a moment: a chart that mounts while the page lays
  // out, or a window being dragged wider, reads once for where it settles rather than once per passing width
  const [settledWidth] = useDebouncedValue(plotWidth, SETTLE_MS);
  const maxPoints = maxPointsFor(plotWidth);
  const zoomed = win.from !== undefined || win.to !== undefined;
  // The width the series is read for follows the settled plot width only where a new read would show more: the
  // held series is a min/max selection and the chart grew. An exact series serves any width (the client thins
  // it), so a resize (a scrollbar appearing, the grid reflowing as charts arrive) never reads it again.
  const [readWidth, setReadWidth] = useState(0);
  const heldExact = useRef(false);
  useEffect(() => {
    if (width <= 0 || settledWidth !== plotWidth) return;
    setReadWidth((current) => (current === 0 || (!heldExact.current && plotWidth > current) ? plotWidth : current));
  }, [width, settledWidth, plotWidth]);
  const request = windowRequest(metricKey, readWidth || plotWidth, win);

  const base = useQuery({
    queryKey: ["job-metric", jobId, metricKey, request],
    queryFn: ({ signal }) => fetchSeries(jobId, request, signal),
    enabled: readWidth > 0,
    staleTime: Infinity,
    refetchOnWindowFocus: false,
    placeholderData: keepPreviousData,
  });

  const [series, setSeries] = useState<Series>(EMPTY_SERIES);
  const seriesRef = useRef(series);
  seriesRef.current = series;
  heldExact.current = series.steps.length > 0 && !series.downsampled;
  const fresh = useRef(false);
  useEffect(() => {
    if (base.data && !base.isPlaceholderData) {
      setSeries(fromAnswer(base.data));
      fresh.current = true;
    }
  }, [base.data, base.isPlaceholderData]);

  // Incremental reads while the job runs (and one last read when it stops), unless zoomed to a closed window.
  const appending = win.to === undefined;
  const wasLive = useRef(live);
  useEffect(() => {
    if (!base.data || base.isPlaceholderData || !appending) return;
    let busy = false;
    let stopped = false;
    const poll = async () => {
      if (busy || stopped) return;
      busy = true;
      try {
        for (let round = 0; round < 5 && !stopped; round++) {
          const answer = await fetchSeries(jobId, afterRequest(metricKey, plotWidth, lastStep(seriesRef.current)));
          if (stopped) break;
          setSeries((s) => {
            const merged = mergeAfter(s, answer);
            // Keep the drawn series bounded: thin by min/max (never averaging) once it doubles the budget.
            return merged.steps.length > 2 * maxPoints ? minMaxBuckets(merged, maxPoints) : merged;
          });
          if (!answer.truncated) break;
        }
      } catch {
        // a failed poll is retried on the next tick
      } finally {
        busy = false;
      }
    };
    if (live) {
      const timer = setInterval(poll, POLL_MS);
      wasLive.current = true;
      return () => {
        stopped = true;
        clearInterval(timer);
      };
    }
    if (wasLive.current) {
      wasLive.current = false;
      void poll();
    }
    return () => {
      stopped = true;
    };
  }, [live, appending, base.data, base.isPlaceholderData, jobId, metricKey, plotWidth, maxPoints]);

  const useTime = x === "time" && series.times.length === series.steps.length && series.steps.length > 0;
  const smoothing = smooth > 0;
  const axis = useAxisColors();

  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = useTime ? series.times : series.steps;
    return smoothing ? [xs, series.values, ema(series.values, smooth)] : [xs, series.values];
  }, [series, useTime, smoothing, smooth]);

  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  const options = useMemo<Omit<uPlot.Options, "width">>(
    () => ({
      height: HEIGHT,
      legend: { show: true },
      cursor: { drag: { x: true, y: false, setScale: false } },
      // the data's own x range; points logged in one batch share a time, so a zero range is padded by 1
      scales: { x: { time: useTime, range: (_u, min, max) => (min === max ? [min - 1, max + 1] : [min, max]) } },
      axes: [
        { ...axis, label: useTime ? undefined : "step", labelSize: 20 },
        { ...axis, size: Y_AXIS_PX, values: yTickValues },
      ],
      series: [
        { label: useTime ? "time" : "step" },
        {
          label: metricKey,
          stroke: smoothing ? fade(color, 0.3) : color,
          width: 1,
          points: { show: false },
        },
        ...(smoothing ? [{ label: `${metricKey} (smoothed)`, stroke: color, width: 2, points: { show: false } }] : []),
      ],
      hooks: {
        setSelect: [
          (u: uPlot) => {
            const { left, width: w } = u.select;
            if (w < 2) return;
            const x0 = u.posToVal(left, "x");
            const x1 = u.posToVal(left + w, "x");
            const toStep = useTime ? (t: number) => stepAtTime(seriesRef.current, t) : undefined;
            const next = selectionWindow(x0, x1, toStep);
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            if (next) onZoomRef.current(next);
          },
        ],
      },
    }),
    [axis, useTime, smoothing, metricKey, color],
  );

  const chartRef = useRef<HTMLDivElement>(null);
  const onDraw = (u: uPlot) => {
    if (!fresh.current) return;
    const n = u.data[0]?.length ?? 0;
    if (n > 0) {
      fresh.current = false;
      markDrawn(chartRef.current, n);
    }
  };

  return (
    <Paper withBorder p="sm" radius="md" ref={chartRef} data-metric={metricKey} style={{ minWidth: 0 }}>
      <Group justify="space-between" gap="xs" mb={4} wrap="wrap">
        <Title order={4} size="h5">
          {metricKey}
        </Title>
        <Group gap="xs">
          {zoomed && (
            <Badge variant="light" color="gray" size="sm">
              steps {win.from ?? "start"}–{win.to ?? "end"}
            </Badge>
          )}
          {live && (
            <Badge variant="dot" color="blue" size="sm">
              live
            </Badge>
          )}
          <Text size="xs" c="dimmed" data-testid="points-shown">
            showing {series.steps.length.toLocaleString()} of {series.count.toLocaleString()} points
          </Text>
        </Group>
      </Group>
      <div ref={sizeRef} style={{ minWidth: 0 }}>
        {base.isError ? (
          <ErrorState error={base.error} title={`Could not read ${metricKey}`} />
        ) : base.isPending ? (
          <div style={{ height: HEIGHT + 40 }}>
            <Loading label={`Loading ${metricKey}…`} />
          </div>
        ) : series.steps.length === 0 ? (
          <Text size="sm" c="dimmed" py="xl" ta="center">
            {zoomed ? "No points in this window." : "No points yet."}
          </Text>
        ) : (
          <UPlot
            options={options}
            data={data}
            label={`${metricKey} against ${useTime ? "time" : "step"}: ${series.steps.length} points drawn`}
            onDraw={onDraw}
          />
        )}
      </div>
    </Paper>
  );
}
