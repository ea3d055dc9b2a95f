/**
 * Jobs (runs): every job of the team in a server-paginated, virtualised table with live status, filters,
 * ordering, param and metric-summary columns, and a selection for Compare. All of it lives in the URL.
 */
import { Button, Group, Pagination, Stack, Text, Title } from "@mantine/core";
import { useViewportSize } from "@mantine/hooks";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { useCallback, useMemo } from "react";
import { api, unwrap } from "../api/client";
import { useCan, useTeam } from "../auth";
import { ColumnPicker } from "../components/jobs/ColumnPicker";
import { JobsFilters, type FilterValues } from "../components/jobs/JobsFilters";
import { JobsTable, ROW_HEIGHT } from "../components/jobs/JobsTable";
import { useJobKinds } from "../components/jobs/queries";
import type { JobRow } from "../components/jobs/types";
import { Empty, ErrorState, Loading } from "../components/states";
import { hasLiveJobs, jobsQuery, nextOrdering, PAGE_SIZE, parseColumns, type SortField, toggleSelected } from "../lib/jobs";
import { directionsOf, toggleFlip } from "../lib/metricsummary";
import { compact } from "../lib/search";

const route = getRouteApi("/jobs");

export default function JobsPage() {
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/jobs" });
  const { team } = useTeam();
  const canSubmit = useCan("member");
  const slug = team?.slug ?? "";
  const { height: viewport } = useViewportSize();

  type Search = ReturnType<typeof route.useSearch>;
  const update = useCallback(
    (patch: Partial<Search>, keepPage = false) =>
      void navigate({
        // defaults (empty lists, no value) are left out so URLs stay short
        search: (prev: Search) =>
          compact({ ...prev, ...patch, ...(keepPage || "page" in patch ? {} : { page: undefined }) }) as Search,
        replace: true,
      }),
    [navigate],
  );

  const query = jobsQuery(slug, search);
  const jobs = useQuery({
    queryKey: ["jobs", "table", query],
    queryFn: () =>
      unwrap(api.GET("/api/v1/jobs/", { params: { query }, querySerializer: { array: { style: "form", explode: false } } })),
    enabled: slug !== "",
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (hasLiveJobs(q.state.data?.results) ? 2000 : false),
  });
  const kinds = useJobKinds();
  const columnChoices = useQuery({
    queryKey: ["jobs", "columns", slug, search.kind ?? ""],
    queryFn: () =>
      unwrap(api.GET("/api/v1/jobs/columns/", { params: { query: { team: slug, ...(query.kind ? { kind: query.kind } : {}) } } })),
    enabled: slug !== "",
    staleTime: 30_000,
  });

  const rows: JobRow[] = jobs.data?.results ?? [];
  const columns = useMemo(() => parseColumns(search.cols), [search.cols]);
  const directions = useMemo(() => directionsOf(rows, columnChoices.data?.metrics ?? []), [rows, columnChoices.data]);
  const selected = search.selected;

  const onSort = useCallback((field: SortField) => update({ ordering: nextOrdering(search.ordering, field) }), [update, search.ordering]);
  const onToggle = useCallback((id: string) => update({ selected: toggleSelected(search.selected, id) }, true), [update, search.selected]);
  const onToggleAll = useCallback(
    (ids: string[], on: boolean) =>
      update(
        { selected: on ? [...search.selected, ...ids.filter((id) => !search.selected.includes(id))] : search.selected.filter((id) => !ids.includes(id)) },
        true,
      ),
    [update, search.selected],
  );
  const onFlip = useCallback((key: string) => update({ flip: toggleFlip(search.flip, key) }, true), [update, search.flip]);
  const onOpen = useCallback((id: string) => void navigate({ to: "/jobs/$jobId", params: { jobId: id }, search: {} as never }), [navigate]);

  const count = jobs.data?.count ?? 0;
  const page = Math.max(1, search.page ?? 1);
  const pages = Math.max(1, Math.ceil(count / PAGE_SIZE));
  const filtered = search.status.length > 0 || !!search.kind || !!search.q;
  const tableHeight = Math.max(320, Math.min(rows.length * ROW_HEIGHT + 90, (viewport || 800) - 240));

  return (
    <Stack gap="md">
      <Group justify="space-between" wrap="wrap" gap="sm">
        <Title order={2}>Jobs</Title>
        <Group gap="xs">
          {selected.length > 0 && (
            <Button variant="subtle" onClick={() => update({ selected: [] }, true)}>
              Clear selection
            </Button>
          )}
          <Button
            variant="default"
            disabled={selected.length < 2}
            title={selected.length < 2 ? "Tick two or more jobs to compare them" : undefined}
            onClick={() => void navigate({ href: `/compare?jobs=${selected.join(",")}` } as Parameters<typeof navigate>[0])}
          >
            Compare{selected.length ? ` (${selected.length})` : ""}
          </Button>
          {canSubmit && (
            <Button renderRoot={(p) => <Link to="/submit" search={{ kind: search.kind ?? "train", from: undefined, base_version: undefined }} {...p} />}>
              Submit a job
            </Button>
          )}
        </Group>
      </Group>

      <Group gap="sm" align="flex-end" wrap="wrap">
        <JobsFilters
          value={{ status: search.status, kind: search.kind, q: search.q }}
          kinds={(kinds.data?.results ?? []).map((k) => k.kind)}
          onChange={(next: Partial<FilterValues>) => update(next)}
        />
        <ColumnPicker
          params={columnChoices.data?.params ?? []}
          metrics={columnChoices.data?.metrics ?? []}
          value={search.cols}
          onChange={(cols) => update({ cols }, true)}
          loading={columnChoices.isPending}
        />
      </Group>

      {jobs.isPending ? (
        <Loading label="Loading jobs…" />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} title="The jobs could not be loaded" />
      ) : rows.length === 0 ? (
        filtered ? (
          <Empty title="No jobs match these filters">Change the search, status or kind to see more.</Empty>
        ) : (
          <Empty title="No jobs yet">
            {canSubmit ? (
              <>
                <Link to="/submit" search={{ kind: "train", from: undefined, base_version: undefined }}>
                  Submit a job
                </Link> to train a model, evaluate one or process a data set.
              </>
            ) : (
              "The team's members have not run any job yet."
            )}
          </Empty>
        )
      ) : (
        <>
          <JobsTable
            jobs={rows}
            columns={columns}
            directions={directions}
            flip={search.flip}
            ordering={search.ordering}
            selected={selected}
            onSort={onSort}
            onToggle={onToggle}
            onToggleAll={onToggleAll}
            onFlip={onFlip}
            onOpen={onOpen}
            height={tableHeight}
          />
          <Group justify="space-between" wrap="wrap" gap="xs">
            <Text size="sm" c="dimmed" aria-live="polite">
              {(page - 1) * PAGE_SIZE + 1}–{Math.min(page * PAGE_SIZE, count)} of {count.toLocaleString()} jobs
              {jobs.isFetching ? " · updating" : hasLiveJobs(rows) ? " · live" : ""}
            </Text>
            {pages > 1 && (
              <Pagination
                total={pages}
                value={Math.min(page, pages)}
                onChange={(p) => update({ page: p === 1 ? undefined : p })}
                siblings={1}
                size="sm"
                getControlProps={(control) => ({ "aria-label": `${control} page` })}
                getItemProps={(p) => ({ "aria-label": `Page ${p}` })}
              />
            )}
          </Group>
        </>
      )}
    </Stack>
  );
}
