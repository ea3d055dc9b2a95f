/**
 * Compare (/compare?jobs=a,b,c): jobs picked from the team's (kept in ?jobs=) overlaid on one chart per
 * metric (?metric= keeps one; ?x=, ?smooth=), their params side by side with differing rows highlighted
 * (?diff=1 shows only those), their metric summaries, and parallel coordinates of numeric params against
 * the chosen metric.
 */
import {
  Badge,
  Group,
  MultiSelect,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Text,
  Title,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { keepPreviousData, useQueries, useQuery } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { useMemo, useState } from "react";
import { api, unwrap } from "../api/client";
import { useTeam } from "../auth";
import { ChartControls } from "../components/charts/ChartControls";
import { CompareChart } from "../components/charts/CompareChart";
import { PALETTE, fetchMetricKeys } from "../components/charts/metricApi";
import { ParallelCoordinates } from "../components/charts/ParallelCoordinates";
import { jobParams, jobSummaries, shortId, StatusBadge, type JobDetail } from "../components/job/JobParts";
import { AnchorLink, partialSearch } from "../components/links";
import { Empty, ErrorState, Loading } from "../components/states";
import { chartSearchPatch, defaultDirection, formatValue, modelMetricsFirst } from "../lib/chart";
import { paramRows, type Scalar } from "../lib/chartCompare";

const route = getRouteApi("/compare");

function jobLabel(j: Pick<JobDetail, "id" | "kind" | "spec">): string {
  const spec = (j.spec ?? {}) as Record<string, unknown>;
  const name = typeof spec.description === "string" && spec.description ? spec.description : typeof spec.model_name === "string" ? spec.model_name : "";
  return `${shortId(j.id)} · ${j.kind}${name ? ` · ${name.slice(0, 40)}` : ""}`;
}

function JobPicker({ selected, onChange }: { selected: string[]; onChange: (ids: string[]) => void }) {
  const { team } = useTeam();
  const [search, setSearch] = useState("");
  const [debounced] = useDebouncedValue(search, 250);
  const list = useQuery({
    queryKey: ["jobs", "picker", team?.slug, debounced],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/jobs/", {
          // `search` matches a job id prefix, kind, model name or error text
          params: { query: { team: team?.slug, page_size: 50, search: debounced || undefined } },
        }),
      ),
    enabled: !!team,
    placeholderData: keepPreviousData,
  });
  const options = useMemo(() => {
    const seen = new Map<string, string>();
    for (const j of list.data?.results ?? []) seen.set(j.id, `${jobLabel(j)} · ${j.status}`);
    for (const id of selected) if (!seen.has(id)) seen.set(id, shortId(id));
    return Array.from(seen, ([value, label]) => ({ value, label }));
  }, [list.data, selected]);
  return (
    <MultiSelect
      label="Jobs to compare"
      description="Search the team's jobs by id, kind or name"
      placeholder={selected.length ? undefined : "Pick two or more jobs"}
      data={options}
      value={selected}
      onChange={onChange}
      searchable
      searchValue={search}
      onSearchChange={setSearch}
      clearable
      hidePickedOptions
      nothingFoundMessage={list.isFetching ? "Searching…" : "No jobs found"}
      maxDropdownHeight={320}
      w={{ base: "100%", md: 640 }}
    />
  );
}

export default function ComparePage() {
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/compare" });
  const setSearch = (patch: Record<string, unknown>) => void navigate({ search: (s) => ({ ...s, ...patch }), replace: true });
  const ids = search.jobs;

  const details = useQueries({
    queries: ids.map((id) => ({
      queryKey: ["job", id],
      queryFn: () => unwrap(api.GET("/api/v1/jobs/{id}/", { params: { path: { id } } })) as Promise<JobDetail>,
    })),
  });
  const keyLists = useQueries({
    queries: ids.map((id) => ({ queryKey: ["job-metric-keys", id], queryFn: () => fetchMetricKeys(id) })),
  });

  // the jobs that could be read, and their positions in ?jobs= (colours and key lists follow those)
  const loadedAt = ids.map((_, i) => i).filter((i) => !!details[i].data);
  const jobs = loadedAt.map((i) => details[i].data!);
  const colored = ids.map((id, i) => {
    const d = details[i].data;
    return { id, label: d ? jobLabel(d) : shortId(id), color: PALETTE[i % PALETTE.length] };
  });
  const allKeys = Array.from(new Set(keyLists.flatMap((q) => (q.data ?? []).map((k) => k.key)))).sort();
  const common = allKeys.filter((k) => keyLists.every((q) => !q.data || q.data.some((x) => x.key === k)));
  const metric = search.metric && allKeys.includes(search.metric) ? search.metric : undefined;
  const pcMetric =
    metric ?? common.find((k) => /loss/.test(k)) ?? common[0] ?? allKeys[0];
  const chartKeys = metric ? [metric] : modelMetricsFirst(allKeys).slice(0, 8);

  const params = jobs.map(jobParams);
  const rows = paramRows(params, search.diff);
  const summaries = loadedAt.map((i) => jobSummaries(details[i].data!, keyLists[i]?.data));
  const pcValue = (i: number): number | null => {
    const s = summaries[i]?.[pcMetric ?? ""];
    if (!s) return null;
    const dir = s.direction ?? defaultDirection(pcMetric ?? "");
    const best = dir === "min" ? s.min : s.max;
    return best ?? s.last ?? null;
  };
  const pcIsBest = jobs.some((_, i) => {
    const s = summaries[i]?.[pcMetric ?? ""];
    return s && (s.min !== undefined || s.max !== undefined);
  });

  const failed = details.filter((q) => q.isError);

  return (
    <Stack gap="lg">
      <Title order={2}>Compare jobs</Title>
      <JobPicker selected={ids} onChange={(v) => setSearch({ jobs: v.length ? v : undefined })} />
      {failed.length > 0 && <ErrorState error={failed[0].error} title="A job could not be read" />}
      {ids.length === 0 ? (
        <Empty title="No jobs picked">Pick two or more jobs above, or use Compare on a job's page.</Empty>
      ) : details.some((q) => q.isPending) && jobs.length === 0 ? (
        <Loading label="Loading jobs…" />
      ) : (
        <>
          {ids.length === 1 && (
            <Text size="sm" c="dimmed">
              Add at least one more job to compare.
            </Text>
          )}
          <Group gap="sm" wrap="wrap" aria-label="Legend">
            {colored.map((c, i) => (
              <Group key={c.id} gap={6} wrap="nowrap">
                <span aria-hidden style={{ width: 14, height: 4, background: c.color, display: "inline-block", borderRadius: 2 }} />
                <AnchorLink to="/jobs/$jobId" params={{ jobId: c.id }} search={partialSearch({})} size="sm">
                  {c.label}
                </AnchorLink>
                {details[i].data && <StatusBadge status={details[i].data!.status} />}
              </Group>
            ))}
          </Group>

          <section aria-labelledby="cmp-charts">
            <Title order={3} id="cmp-charts" mb="xs">
              Metrics
            </Title>
            <Group align="end" gap="lg" mb="sm" wrap="wrap">
              <Select
                label="Metric"
                placeholder="All metrics"
                data={allKeys}
                value={metric ?? null}
                onChange={(v) => setSearch({ metric: v ?? undefined })}
                clearable
                searchable
                w={{ base: "100%", sm: 240 }}
              />
              <ChartControls
                x={search.x}
                smooth={search.smooth}
                zoomed={search.x === "step" && (search.from !== undefined || search.to !== undefined)}
                onChange={(p) => setSearch(chartSearchPatch(p))}
                onResetZoom={() => setSearch(chartSearchPatch({ from: undefined, to: undefined }))}
              />
            </Group>
            {keyLists.some((q) => q.isPending) && allKeys.length === 0 ? (
              <Loading label="Loading metrics…" />
            ) : allKeys.length === 0 ? (
              <Empty title="No metrics">These jobs recorded no metrics.</Empty>
            ) : (
              <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
                {chartKeys.map((k) => (
                  <CompareChart
                    key={k}
                    jobs={colored}
                    metricKey={k}
                    x={search.x}
                    smooth={search.smooth}
                    window={{ from: search.from, to: search.to }}
                    onZoom={(w) => setSearch(chartSearchPatch(w))}
                  />
                ))}
              </SimpleGrid>
            )}
          </section>

          <section aria-labelledby="cmp-pc">
            <Title order={3} id="cmp-pc" mb="xs">
              Params against {pcMetric ?? "a metric"}
            </Title>
            {pcMetric && jobs.length ? (
              <ParallelCoordinates
                metricKey={pcMetric}
                metricLabel={`${pcMetric} (${pcIsBest ? "best" : "last"})`}
                jobs={jobs.map((j, i) => ({ id: j.id, label: jobLabel(j), params: params[i], metric: pcValue(i) }))}
              />
            ) : (
              <Text size="sm" c="dimmed">
                Needs a metric the jobs recorded.
              </Text>
            )}
          </section>

          <section aria-labelledby="cmp-summaries">
            <Title order={3} id="cmp-summaries" mb="xs">
              Metric summaries
            </Title>
            <SummariesSideBySide keys={allKeys} jobs={loadedAt.map((i) => colored[i])} summaries={summaries} />
          </section>

          <section aria-labelledby="cmp-params">
            <Group justify="space-between" mb="xs" wrap="wrap">
              <Title order={3} id="cmp-params">
                Params
              </Title>
              <Switch
                label="Only differences"
                checked={search.diff}
                onChange={(e) => setSearch({ diff: e.currentTarget.checked ? true : undefined })}
              />
            </Group>
            {rows.length === 0 ? (
              <Text size="sm" c="dimmed">
                {search.diff ? "No param differs." : "No params."}
              </Text>
            ) : (
              <Table.ScrollContainer minWidth={240 + 180 * jobs.length}>
                <Table fz="sm" withTableBorder withColumnBorders aria-label="Params side by side">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th scope="col">Param</Table.Th>
                      {jobs.map((j) => (
                        <Table.Th scope="col" key={j.id} ff="monospace">
                          {shortId(j.id)}
                        </Table.Th>
                      ))}
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {rows.map((r) => (
                      <Table.Tr
                        key={r.key}
                        data-differs={r.differs || undefined}
                        style={r.differs ? { boxShadow: "inset 4px 0 0 var(--mantine-color-yellow-filled)" } : undefined}
                      >
                        <Table.Td ff="monospace" fw={r.differs ? 700 : undefined}>
                          {r.key}
                          {r.differs && (
                            <Badge ml="xs" size="xs" color="yellow" variant="filled" autoContrast>
                              differs
                            </Badge>
                          )}
                        </Table.Td>
                        {r.values.map((v, i) => (
                          <Table.Td key={i} ff="monospace" fw={r.differs ? 700 : undefined}>
                            {show(v)}
                          </Table.Td>
                        ))}
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
          </section>
        </>
      )}
    </Stack>
  );
}

function show(v: Scalar | undefined): string {
  if (v === undefined) return "—";
  if (v === null) return "null";
  return typeof v === "number" ? formatValue(v) : String(v);
}

function SummariesSideBySide({
  keys,
  jobs,
  summaries,
}: {
  keys: string[];
  jobs: { id: string; label: string; color: string }[];
  summaries: Record<string, import("../components/job/JobParts").MetricSummary>[];
}) {
  if (!keys.length || !summaries.length) return <Text size="sm" c="dimmed">No metrics recorded.</Text>;
  return (
    <Table.ScrollContainer minWidth={200 + 200 * summaries.length}>
      <Table fz="sm" withTableBorder withColumnBorders aria-label="Metric summaries side by side">
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Metric</Table.Th>
            {summaries.map((_, i) => (
              <Table.Th scope="col" key={jobs[i].id} ff="monospace">
                {shortId(jobs[i].id)}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {keys.map((k) => {
            const dir = summaries.find((s) => s[k]?.direction)?.[k]?.direction ?? defaultDirection(k);
            const vals = summaries.map((s) => {
              const x = s[k];
              if (!x) return null;
              return (dir === "min" ? x.min : x.max) ?? x.last ?? null;
            });
            const finite = vals.filter((v): v is number => v !== null && Number.isFinite(v));
            const best = finite.length > 1 ? (dir === "min" ? Math.min(...finite) : Math.max(...finite)) : undefined;
            return (
              <Table.Tr key={k}>
                <Table.Td ff="monospace">
                  {k}{" "}
                  <Text span size="xs" c="dimmed">
                    ({dir})
                  </Text>
                </Table.Td>
                {summaries.map((s, i) => {
                  const x = s[k];
                  return (
                    <Table.Td key={i} fw={vals[i] === best ? 700 : undefined}>
                      {x ? (
                        <>
                          last {formatValue(x.last)}
                          {x.min !== undefined && (
                            <Text span size="xs" c="dimmed">
                              {" "}
                              · min {formatValue(x.min)} · max {formatValue(x.max)}
                            </Text>
                          )}
                          {(dir === "min" ? x.min_step : x.max_step) != null && (
                            <Text span size="xs" c="dimmed">
                              {" "}
                              · best @{dir === "min" ? x.min_step : x.max_step}
                            </Text>
                          )}
                        </>
                      ) : (
                        "—"
                      )}
                    </Table.Td>
                  );
                })}
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
