/**
 * Serving: per model and version, requests, latency p50/p95 and errors (refused, failed) over time, and the
 * accuracy measured from feedback over time, so a degrading model shows before its retrain trigger fires.
 */
import { Card, Group, SegmentedControl, Select, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { useMemo } from "react";
import type uPlot from "uplot";
import { api, unwrap } from "../api/client";
import { ModelLink } from "../components/models/links";
import { useModel, useVersions } from "../components/models/queries";
import { Empty, ErrorState, Loading } from "../components/states";
import { UPlot, useAxisColors } from "../components/UPlot";
import { formatMetric, isolatedIndices, servingSeries, servingWindow, type ServingRange } from "../lib/models";
import { SERVING_RANGES } from "../router";
import { formatDateTime } from "../lib/overviewFormat";

const route = getRouteApi("/models/$modelId/serving");

interface Line {
  label: string;
  color: string;
  dash?: number[];
}

function Chart({
  title,
  x,
  ys,
  lines,
  unit,
  yRange,
}: {
  title: string;
  x: number[];
  ys: (number | null)[][];
  lines: Line[];
  unit: string;
  yRange?: [number, number];
}) {
  const axis = useAxisColors();
  const options = useMemo<Omit<uPlot.Options, "width">>(
    () => ({
      height: 220,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: yRange ? { range: yRange } : { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { ...axis },
        { ...axis, label: unit, size: 56, values: (_u, splits) => splits.map((v) => formatMetric(v)) },
      ],
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 2,
          dash: l.dash,
          spanGaps: false,
          points: {
            show: true,
            size: 5,
            fill: l.color,
            // a line draws every point that has a neighbour; dot only the lone ones (one bucket of traffic)
            filter: (u: uPlot, sidx: number) => isolatedIndices(u.data[sidx] as (number | null)[]),
          },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "—" : formatMetric(v)),
        })),
      ],
    }),
    [axis, lines, unit, yRange],
  );
  const data = useMemo(() => [x, ...ys] as uPlot.AlignedData, [x, ys]);
  return (
    <Card withBorder padding="sm">
      <Title order={3} size="h5" mb={4}>
        {title}
      </Title>
      <UPlot options={options} data={data} label={`${title} over time`} />
    </Card>
  );
}

const REQUEST_LINES: Line[] = [
  { label: "requests", color: "#1c7ed6" },
  { label: "refused (4xx)", color: "#f08c00" },
  { label: "failed (5xx)", color: "#e03131" },
];
const LATENCY_LINES: Line[] = [
  { label: "p50", color: "#2f9e44" },
  { label: "p95", color: "#ae3ec9", dash: [6, 4] },
];
const ACCURACY_LINES: Line[] = [{ label: "accuracy", color: "#2f9e44" }];
const FEEDBACK_LINES: Line[] = [{ label: "labelled predictions", color: "#f76707" }];

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Card>
  );
}

export default function ServingPage() {
  const { modelId } = route.useParams();
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/models/$modelId/serving" });
  const model = useModel(modelId);
  const versions = useVersions(modelId);
  const span = servingWindow(search.range as ServingRange, new Date());
  const stats = useQuery({
    queryKey: ["models", modelId, "serving", search.version ?? null, span],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/models/{id}/serving/", {
          params: { path: { id: modelId }, query: { version: search.version, bucket: span.bucket, since: span.since, until: span.until } },
        }),
      ),
    refetchInterval: 30_000,
    placeholderData: keepPreviousData,
  });
  const series = useMemo(() => servingSeries(stats.data?.buckets ?? []), [stats.data]);
  const ys = useMemo(
    () => ({
      requests: [series.requests, series.refused, series.failed],
      latency: [series.p50, series.p95],
      accuracy: [series.accuracy],
      feedback: [series.feedback],
    }),
    [series],
  );

  if (model.isError) return <ErrorState error={model.error} title="This model could not be loaded" />;
  const t = series.totals;
  const p95s = series.p95.filter((v): v is number => v !== null);
  const served = t.requests - t.refused - t.failed;

  return (
    <Stack>
      <div>
        <Text size="sm">{model.data ? <ModelLink modelId={modelId}>{model.data.name}</ModelLink> : " "}</Text>
        <Title order={2}>Serving</Title>
      </div>
      <Group align="flex-end" gap="md">
        <Select
          label="Version"
          data={[
            { value: "", label: "All versions" },
            ...(versions.data?.results ?? []).map((v) => ({
              value: v.id,
              label: `v${v.version}${v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}`,
            })),
          ]}
          value={search.version ?? ""}
          onChange={(v) => void navigate({ search: (s) => ({ ...s, version: v || undefined }), replace: true })}
          allowDeselect={false}
          w={220}
        />
        <div>
          <Text size="sm" fw={500} mb={2} id="range-label">
            Range
          </Text>
          <SegmentedControl
            aria-labelledby="range-label"
            value={search.range}
            onChange={(r) => void navigate({ search: (s) => ({ ...s, range: r as ServingRange }), replace: true })}
            data={SERVING_RANGES.map((r) => ({ value: r, label: r }))}
          />
        </div>
      </Group>
      {stats.isPending ? (
        <Loading label="Loading serving statistics…" />
      ) : stats.isError ? (
        <ErrorState error={stats.error} title="Serving statistics could not be loaded" />
      ) : (
        <>
          <SimpleGrid cols={{ base: 2, sm: 3, lg: 5 }}>
            <Stat label="Requests" value={t.requests.toLocaleString()} hint={`${served.toLocaleString()} served`} />
            <Stat
              label="Refused (4xx)"
              value={t.refused.toLocaleString()}
              hint={t.requests ? `${((t.refused / t.requests) * 100).toFixed(1)}% of requests` : undefined}
            />
            <Stat
              label="Failed (5xx)"
              value={t.failed.toLocaleString()}
              hint={t.requests ? `${((t.failed / t.requests) * 100).toFixed(1)}% of requests` : undefined}
            />
            <Stat label="Worst p95 latency" value={p95s.length ? `${formatMetric(Math.max(...p95s))} ms` : "—"} hint="over the buckets" />
            <Stat
              label="Accuracy from feedback"
              value={t.feedback ? `${((t.correct / t.feedback) * 100).toFixed(1)}%` : "—"}
              hint={`${t.feedback.toLocaleString()} labelled`}
            />
          </SimpleGrid>
          {t.requests === 0 && t.feedback === 0 ? (
            <Empty title="No requests in this window">
              Predictions through POST /api/v1/models/{"{id}"}/predict/ (or the model page's “Try it”) show here. Try a longer range.
            </Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              <Chart title="Requests and errors" x={series.x} ys={ys.requests} lines={REQUEST_LINES} unit="per bucket" />
              <Chart title="Latency" x={series.x} ys={ys.latency} lines={LATENCY_LINES} unit="ms" />
              <Chart title="Accuracy from feedback" x={series.x} ys={ys.accuracy} lines={ACCURACY_LINES} unit="accuracy" yRange={[0, 1]} />
              <Chart title="Feedback received" x={series.x} ys={ys.feedback} lines={FEEDBACK_LINES} unit="labels" />
            </SimpleGrid>
          )}
          <Text size="xs" c="dimmed">
            {stats.data.bucket_s >= 3600 ? `${stats.data.bucket_s / 3600} h` : `${stats.data.bucket_s / 60} min`} buckets from{" "}
            {formatDateTime(stats.data.since)} to {formatDateTime(stats.data.until)}; accuracy counts the
            feedback on the predictions made in each bucket. Refreshes every 30 s.
          </Text>
        </>
      )}
    </Stack>
  );
}
