/**
 * Job page (/jobs/$jobId): what the job is and how it is going, live while it runs (every 2 s): status,
 * progress, attempts, worker, times and error; cancel (member+, while queued or running) and resubmit with
 * edits; the versions it read and wrote; its metric charts (?keys=, ?x=, ?smooth=, zoom window ?from=&to=);
 * metric summaries; the spec as params; and the log tail (?log= filters it).
 */
import {
  Alert,
  Badge,
  Button,
  Group,
  MultiSelect,
  Progress,
  SimpleGrid,
  Stack,
  Text,
  Title,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { api, unwrap } from "../api/client";
import { useCan } from "../auth";
import { ChartControls } from "../components/charts/ChartControls";
import { MetricChart } from "../components/charts/MetricChart";
import { PALETTE, fetchMetricKeys } from "../components/charts/metricApi";
import {
  isActive,
  jobLinks,
  jobParams,
  jobSummaries,
  ParamsTable,
  shortId,
  StatusBadge,
  SummaryTable,
  type JobDetail,
} from "../components/job/JobParts";
import { LogTail } from "../components/job/LogTail";
import { environmentOf, RunArtifacts, RunEnvironment } from "../components/job/RunSource";
import { AnchorLink, ButtonLink, partialSearch } from "../components/links";
import { Empty, ErrorState, QueryState } from "../components/states";
import { chartSearchPatch, chosenKeys } from "../lib/chart";
import { formatDateTime } from "../lib/overviewFormat";

const route = getRouteApi("/jobs/$jobId");
const LIVE_MS = 2000;

function when(iso: string | null | undefined): string {
  return iso ? formatDateTime(iso) : "–";
}

function duration(job: JobDetail): string {
  if (!job.started_at) return "–";
  const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  const s = Math.max(0, Math.round((end - Date.parse(job.started_at)) / 1000));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${(s / 3600).toFixed(1)} h`;
}

export default function JobPage() {
  const { jobId } = route.useParams();
  const job = useQuery({
    queryKey: ["job", jobId],
    queryFn: () => unwrap(api.GET("/api/v1/jobs/{id}/", { params: { path: { id: jobId } } })) as Promise<JobDetail>,
    refetchInterval: (q) => (isActive(q.state.data?.status) ? LIVE_MS : false),
  });
  return (
    <QueryState query={job} loading="Loading job…">
      {(data) => <JobView job={data} />}
    </QueryState>
  );
}

function JobView({ job }: { job: JobDetail }) {
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/jobs/$jobId" });
  const setSearch = (patch: Record<string, unknown>) =>
    void navigate({ search: (s) => ({ ...s, ...patch }), replace: true });
  const client = useQueryClient();
  const canCancel = useCan("member", job.team);
  const running = job.status === "running";
  const active = isActive(job.status);

  const keys = useQuery({
    queryKey: ["job-metric-keys", job.id],
    queryFn: () => fetchMetricKeys(job.id),
    refetchInterval: active ? LIVE_MS : false,
  });

  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/jobs/{id}/cancel/", { params: { path: { id: job.id } } })),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["job", job.id] });
      void client.invalidateQueries({ queryKey: ["jobs"] });
    },
  });

  const available = (keys.data ?? []).map((k) => k.key);
  const shownKeys = chosenKeys(available, search.keys);
  const win = { from: search.from, to: search.to };
  const zoomed = win.from !== undefined || win.to !== undefined;
  const { inputs, outputs } = jobLinks(job);
  const params = jobParams(job);
  const environment = environmentOf(job.spec);
  // a run's own tags; MLflow's client adds its system tags (mlflow.*), left out here
  const userTags = Object.entries((job.tags ?? {}) as Record<string, unknown>).filter(([key]) => !key.startsWith("mlflow."));

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="start" wrap="wrap">
        <Stack gap={4}>
          <Group gap="xs">
            <Title order={2}>
              Job <span style={{ fontFamily: "monospace" }}>{shortId(job.id)}</span>
            </Title>
            <Badge variant="outline" color="gray">
              {job.kind}
            </Badge>
            <StatusBadge status={job.status} />
            {job.cancel_requested && active && (
              <Badge color="orange" variant="light">
                cancelling
              </Badge>
            )}
          </Group>
          <Text size="xs" c="dimmed" ff="monospace">
            {job.id}
          </Text>
        </Stack>
        <Group gap="xs">
          {canCancel && active && (
            <Button color="red" variant="light" loading={cancel.isPending} disabled={job.cancel_requested} onClick={() => cancel.mutate()}>
              Cancel job
            </Button>
          )}
          <ButtonLink to="/submit" search={{ kind: job.kind, from: job.id, base_version: undefined }} variant="default">
            Resubmit with edits
          </ButtonLink>
          <ButtonLink to="/compare" search={partialSearch({ jobs: [job.id] })} variant="subtle">
            Compare
          </ButtonLink>
        </Group>
      </Group>

      {cancel.isError && <ErrorState error={cancel.error} title="Could not cancel" />}

      <Stack gap={4}>
        <Group justify="space-between">
          <Text size="sm" fw={500}>
            Progress
          </Text>
          <Text size="sm">{Math.round(job.progress * 100)}%</Text>
        </Group>
        <Progress
          value={job.progress * 100}
          animated={running}
          color={job.status === "failed" ? "red" : job.status === "succeeded" ? "green" : "blue"}
          aria-label="Job progress" // Mantine passes aria-label, and only it, to the progressbar
        />
      </Stack>

      <SimpleGrid cols={{ base: 2, md: 4 }} spacing="sm" verticalSpacing="xs" component="dl" m={0}>
        {[
          ["Attempts", `${job.attempts} (max retries ${job.max_retries})`],
          ["Worker", job.worker || "–"],
          ["Created", `${when(job.created_at)}${job.created_by ? ` by ${job.created_by}` : ""}`],
          ["Started", when(job.started_at)],
          ["Finished", when(job.finished_at)],
          ["Duration", duration(job)],
          ["Team", job.team],
          ["Priority", String(job.priority)],
          ...(job.name ? [["Run name", job.name]] : []),
          ...(job.experiment_name ? [["Experiment", job.experiment_name]] : []),
        ].map(([label, value]) => (
          <div key={label}>
            <Text component="dt" size="xs" c="dimmed">
              {label}
            </Text>
            <Text component="dd" size="sm" m={0}>
              {value}
            </Text>
          </div>
        ))}
      </SimpleGrid>

      {userTags.length > 0 && (
        <Group gap={6} role="group" aria-label="Tags">
          <Text size="xs" c="dimmed">
            Tags
          </Text>
          {userTags.map(([key, value]) => (
            <Badge key={key} variant="light" color="gray" tt="none">
              {key}: {String(value)}
            </Badge>
          ))}
        </Group>
      )}

      {job.status === "queued" && job.queue_reason && (
        <Alert color="gray" title="Waiting" role="status">
          <Text size="sm">{job.queue_reason}</Text>
        </Alert>
      )}

      {job.error && (
        <Alert color="red" title="Error" role="alert">
          <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
            {job.error}
          </Text>
        </Alert>
      )}

      <section aria-labelledby="job-io">
        <Title order={3} id="job-io" mb="xs">
          Inputs and outputs
        </Title>
        {inputs.length + outputs.length === 0 ? (
          <Text size="sm" c="dimmed">
            {active ? "Outputs appear when the job succeeds." : "No linked data sets or models."}
          </Text>
        ) : (
          <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="xs">
            {[...inputs.map((l) => ({ ...l, dir: "read" })), ...outputs.map((l) => ({ ...l, dir: "wrote" }))].map((l, i) => (
              <Group key={i} gap="xs" wrap="nowrap">
                <Badge size="xs" variant="light" color={l.dir === "read" ? "gray" : "green"}>
                  {l.dir}
                </Badge>
                <Text size="sm" c="dimmed">
                  {l.label}:
                </Text>
                {l.node}
              </Group>
            ))}
          </SimpleGrid>
        )}
      </section>

      <section aria-labelledby="job-metrics">
        <Title order={3} id="job-metrics" mb="xs">
          Metrics
        </Title>
        {keys.isError ? (
          <ErrorState error={keys.error} title="Could not list the metrics" />
        ) : keys.isPending ? null : available.length === 0 ? (
          <Empty title="No metrics yet">{active ? "Charts appear as soon as the job logs its first point." : "This job recorded no metrics."}</Empty>
        ) : (
          <Stack gap="sm">
            <Group align="end" gap="lg" wrap="wrap">
              <MultiSelect
                label="Metrics to chart"
                data={available}
                value={search.keys.filter((k) => available.includes(k))}
                onChange={(v) => setSearch({ keys: v.length ? v : undefined })}
                placeholder={search.keys.length ? undefined : "all"}
                clearable
                searchable
                w={{ base: "100%", sm: 320 }}
              />
              <ChartControls
                x={search.x}
                smooth={search.smooth}
                zoomed={zoomed}
                onChange={(p) => setSearch(chartSearchPatch(p))}
                onResetZoom={() => setSearch(chartSearchPatch({ from: undefined, to: undefined }))}
              />
            </Group>
            <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
              {shownKeys.map((key, i) => (
                <MetricChart
                  key={key}
                  jobId={job.id}
                  metricKey={key}
                  live={running}
                  x={search.x}
                  smooth={search.smooth}
                  window={win}
                  onZoom={(w) => setSearch(chartSearchPatch(w))}
                  color={PALETTE[i % PALETTE.length]}
                />
              ))}
            </SimpleGrid>
          </Stack>
        )}
      </section>

      <SimpleGrid cols={{ base: 1, lg: 2 }} spacing="lg">
        <section aria-labelledby="job-summaries" style={{ minWidth: 0 }}>
          <Title order={3} id="job-summaries" mb="xs">
            Metric summaries
          </Title>
          <SummaryTable summaries={jobSummaries(job, keys.data)} />
        </section>
        <section aria-labelledby="job-params" style={{ minWidth: 0 }}>
          <Title order={3} id="job-params" mb="xs">
            Params
          </Title>
          <ParamsTable params={params} />
        </section>
      </SimpleGrid>

      {job.kind === "tracking" && (
        <>
          <section aria-labelledby="job-source">
            <Title order={3} id="job-source" mb="xs">
              Source and environment
            </Title>
            {environment ? (
              <RunEnvironment environment={environment} />
            ) : (
              <Text size="sm" c="dimmed">
                Not recorded (the run was started with log_environment=False).
              </Text>
            )}
          </section>
          <section aria-labelledby="job-artifacts">
            <Title order={3} id="job-artifacts" mb="xs">
              Artifacts
            </Title>
            <RunArtifacts jobId={job.id} />
          </section>
        </>
      )}

      <section aria-labelledby="job-log">
        <Title order={3} id="job-log" mb="xs">
          Log
        </Title>
        <LogTail jobId={job.id} live={active} search={search.log ?? ""} onSearch={(q) => setSearch({ log: q || undefined })} />
      </section>

      <Text size="xs" c="dimmed">
        <AnchorLink to="/jobs" search={partialSearch({})}>
          All jobs
        </AnchorLink>
      </Text>
    </Stack>
  );
}
