/**
 * Several jobs' series of one metric overlaid on one uPlot chart, one colour per job (the legend names
 * them). Each job's series is read as min/max buckets sized to the plot, so spikes stay visible; smoothing
 * draws each job's debiased EMA over its faded raw line. On the time axis x is seconds since each job's
 * first point, so runs started at different times line up. Dragging across a step-axis chart asks for that
 * step window (`onZoom`): each job's exact points there, not a blow-up of the buckets; on the time axis the
 * drag zooms the drawn points only (each job's seconds map to different steps).
 */
import { Paper, Text, Title } from "@mantine/core";
import { useElementSize } from "@mantine/hooks";
import { useQueries } from "@tanstack/react-query";
import { useMemo, useRef } from "react";
import type uPlot from "uplot";
import { alignSeries, selectionWindow, windowRequest, yTickValues, type StepWindow } from "../../lib/chart";
import { fromAnswer } from "../../lib/series";
import { ema } from "../../lib/smoothing";
import { ErrorState, Loading } from "../states";
import { UPlot, useAxisColors } from "../UPlot";
import { fade, fetchSeries, markDrawn } from "./metricApi";

const HEIGHT = 260;

export interface CompareJob {
  id: string;
  label: string;
  color: string;
}

export function CompareChart({
  jobs,
  metricKey,
  x,
  smooth,
  window: win = {},
  onZoom,
}: {
  jobs: CompareJob[];
  metricKey: string;
  x: "step" | "time";
  smooth: number;
  window?: StepWindow;
  onZoom?: (window: StepWindow) => void;
}) {
  const { ref: sizeRef, width } = useElementSize();
  const plotWidth = Math.max(100, Math.ceil((width - 60) / 50) * 50);
  const request = windowRequest(metricKey, plotWidth, x === "step" ? win : {});
  const queries = useQueries({
    queries: jobs.map((j) => ({
      queryKey: ["job-metric", j.id, metricKey, request],
      queryFn: ({ signal }: { signal: AbortSignal }) => fetchSeries(j.id, request, signal),
      enabled: width > 0,
      staleTime: 30_000,
      retry: false,
    })),
  });
  const axis = useAxisColors();
  const smoothing = smooth > 0;
  const ready = queries.filter((q) => q.data);
  const missing = queries.filter((q) => q.isError).length;
  const pending = queries.some((q) => q.isPending);
  const useTime = x === "time" && ready.every((q) => q.data!.times && q.data!.times.length === q.data!.points.length);

  const drawnJobs = jobs.filter((_, i) => queries[i].data);
  const seriesKey = queries.map((q) => q.dataUpdatedAt).join(",");
  const { data, shown, counts } = useMemo(() => {
    const cols: { x: number[]; y: (number | null)[] }[] = [];
    let shown = 0;
    let counts = 0;
    queries.forEach((q) => {
      if (!q.data) return;
      const s = fromAnswer(q.data);
      shown += s.steps.length;
      counts += s.count;
      const xs = useTime ? s.times.map((t) => t - (s.times[0] ?? 0)) : s.steps;
      cols.push({ x: xs, y: s.values });
      if (smoothing) cols.push({ x: xs, y: ema(s.values, smooth) });
    });
    return { data: alignSeries(cols) as uPlot.AlignedData, shown, counts };
    // queries is a new array each render; its data changes are tracked by seriesKey
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seriesKey, useTime, smoothing, smooth]);

  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  const options = useMemo<Omit<uPlot.Options, "width">>(
    () => ({
      height: HEIGHT,
      // the page's legend names each job's colour; uPlot's would list every raw and smoothed line
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: useTime || !onZoomRef.current } },
      hooks: {
        setSelect: [
          (u: uPlot) => {
            const { left, width: w } = u.select;
            if (useTime || !onZoomRef.current || w < 2) return;
            const next = selectionWindow(u.posToVal(left, "x"), u.posToVal(left + w, "x"));
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            if (next) onZoomRef.current(next);
          },
        ],
      },
      scales: { x: { time: false } },
      axes: [{ ...axis, label: useTime ? "seconds since the run's first point" : "step", labelSize: 20 }, { ...axis, size: 60, values: yTickValues }],
      series: [
        { label: useTime ? "s" : "step" },
        ...drawnJobs.flatMap((j) => [
          { label: j.label, stroke: smoothing ? fade(j.color, 0.3) : j.color, width: 1, points: { show: false }, spanGaps: true },
          ...(smoothing
            ? [{ label: `${j.label} (smoothed)`, stroke: j.color, width: 2, points: { show: false }, spanGaps: true }]
            : []),
        ]),
      ],
    }),
    // drawnJobs is derived from jobs and the queries that have data
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [axis, useTime, smoothing, drawnJobs.map((j) => j.id + j.color + j.label).join("|")],
  );

  const ref = useRef<HTMLDivElement>(null);
  const fresh = useRef("");
  return (
    <Paper withBorder p="sm" radius="md" ref={ref} data-metric={metricKey} style={{ minWidth: 0 }}>
      <Title order={4} size="h5">
        {metricKey}
      </Title>
      <Text size="xs" c="dimmed" mb={4} data-testid="points-shown">
        showing {shown.toLocaleString()} of {counts.toLocaleString()} points
        {missing ? ` · ${missing} job${missing > 1 ? "s have" : " has"} no ${metricKey}` : ""}
      </Text>
      <div ref={sizeRef} style={{ minWidth: 0 }}>
        {pending && ready.length === 0 ? (
          <div style={{ height: HEIGHT + 40 }}>
            <Loading label={`Loading ${metricKey}…`} />
          </div>
        ) : ready.length === 0 ? (
          missing === jobs.length ? (
            <Text size="sm" c="dimmed" py="xl" ta="center">
              None of these jobs recorded {metricKey}.
            </Text>
          ) : (
            <ErrorState error={queries.find((q) => q.error)?.error} />
          )
        ) : (
          <UPlot
            options={options}
            data={data}
            label={`${metricKey} of ${drawnJobs.length} jobs against ${useTime ? "time" : "step"}`}
            onDraw={(u) => {
              if (fresh.current !== seriesKey && (u.data[0]?.length ?? 0) > 0) {
                fresh.current = seriesKey;
                markDrawn(ref.current, u.data[0].length);
              }
            }}
          />
        )}
      </div>
    </Paper>
  );
}
