/** The Overview's panels: jobs, retrain triggers, models and aliases, data sets, usage. */
import { Badge, Group, Paper, Progress, Stack, Table, Text, Title } from "@mantine/core";
import { AnchorLink, BadgeLink, partialSearch, MUTED } from "../links";
import type { ReactNode } from "react";
import { progressPercent, shortId, statusSummary, triggerProgress, type OverviewModel } from "../../lib/overview";
import { formatBytes, formatCount, formatSeconds, timeAgo } from "../../lib/overviewFormat";

/** a green dark enough for white badge text in both schemes (6.6:1) */
const PRODUCTION_BG = "#1b6b2d";

const STATUS_COLOR: Record<string, string> = {
  running: "blue",
  queued: "yellow",
  succeeded: "green",
  failed: "red",
  cancelled: "gray",
};

export function Panel({ title, action, children }: { title: string; action?: ReactNode; children: ReactNode }) {
  return (
    <Paper withBorder p="md" radius="md" component="section" aria-label={title} style={{ minWidth: 0 }}>
      <Group justify="space-between" mb="sm" wrap="nowrap">
        <Title order={3} size="h4">
          {title}
        </Title>
        {action}
      </Group>
      {children}
    </Paper>
  );
}

function None({ children }: { children: ReactNode }) {
  return (
    <Text size="sm" c={MUTED}>
      {children}
    </Text>
  );
}

export function JobsPanel({ jobs }: { jobs: OverviewModel["jobs"] }) {
  const summary = statusSummary(jobs.by_status);
  return (
    <Panel
      title="Jobs"
      action={
        <AnchorLink to="/jobs" size="sm" search={partialSearch()}>
          All jobs
        </AnchorLink>
      }
    >
      <Group gap={6} mb="sm">
        {summary.length === 0 ? (
          <None>No jobs yet.</None>
        ) : (
          summary.map((s) => (
            <BadgeLink
              key={s.status}
              variant="dot"
              color={STATUS_COLOR[s.status] ?? "gray"}
              to="/jobs"
              search={partialSearch({ status: [s.status] })}
              style={{ cursor: "pointer" }}
            >
              {formatCount(s.count)} {s.status}
            </BadgeLink>
          ))
        )}
      </Group>
      <Title order={4} size="h6" mb={4}>
        Running
      </Title>
      {jobs.running.length === 0 ? (
        <None>Nothing is running.</None>
      ) : (
        <Stack gap={6} mb="sm">
          {jobs.running.slice(0, 6).map((j) => {
            const pct = progressPercent(j.progress);
            return (
              <div key={j.id}>
                <Group justify="space-between" gap="xs" wrap="nowrap">
                  <AnchorLink to="/jobs/$jobId" params={{ jobId: j.id }} size="sm" truncate search={partialSearch()}>
                    {j.kind} {shortId(j.id)}
                  </AnchorLink>
                  <Text size="xs" c={MUTED} style={{ whiteSpace: "nowrap" }}>
                    {pct}% · started {timeAgo(j.started_at)}
                  </Text>
                </Group>
                <Progress.Root size="sm" mt={2}>
                  <Progress.Section value={pct} color="blue" aria-label={`Progress of ${j.kind} ${shortId(j.id)}`} />
                </Progress.Root>
              </div>
            );
          })}
          {jobs.running.length > 6 && <None>and {jobs.running.length - 6} more.</None>}
        </Stack>
      )}
      <Title order={4} size="h6" mb={4} mt="sm">
        Queued
      </Title>
      {jobs.queued.length === 0 ? (
        <None>The queue is empty.</None>
      ) : (
        <Stack gap={4}>
          {jobs.queued.slice(0, 6).map((j) => (
            <Group key={j.id} justify="space-between" gap="xs" wrap="nowrap">
              <AnchorLink to="/jobs/$jobId" params={{ jobId: j.id }} size="sm" truncate search={partialSearch()}>
                {j.kind} {shortId(j.id)}
              </AnchorLink>
              <Text size="xs" c={MUTED} truncate>
                {j.queue_reason ?? `waiting since ${timeAgo(j.created_at)}`}
              </Text>
            </Group>
          ))}
          {jobs.queued.length > 6 && <None>and {jobs.queued.length - 6} more.</None>}
        </Stack>
      )}
    </Panel>
  );
}

export function TriggersPanel({ triggers }: { triggers: OverviewModel["triggers"] }) {
  return (
    <Panel title="Feedback toward retraining">
      {triggers.length === 0 ? (
        <None>No retrain triggers. Create one through the API to retrain a model when enough feedback arrives.</None>
      ) : (
        <Stack gap="sm">
          {triggers.map((t) => {
            const { percent, ready } = triggerProgress(t.feedback_waiting, t.min_feedback);
            const label = t.name || `Retrain ${t.model.name}`;
            return (
              <div key={t.id}>
                <Group justify="space-between" gap="xs" wrap="nowrap">
                  <AnchorLink to="/models/$modelId" params={{ modelId: t.model.id }} size="sm" truncate search={partialSearch()}>
                    {label}
                  </AnchorLink>
                  <Group gap={4} wrap="nowrap">
                    {!t.enabled && (
                      <Badge size="xs" color="gray" variant="light">
                        disabled
                      </Badge>
                    )}
                    {ready && t.enabled && (
                      <Badge size="xs" color="orange" variant="light">
                        ready
                      </Badge>
                    )}
                    <Text size="xs" c={MUTED} style={{ whiteSpace: "nowrap" }}>
                      {t.feedback_waiting === null ? "?" : formatCount(t.feedback_waiting)} / {formatCount(t.min_feedback)}{" "}
                      labels
                    </Text>
                  </Group>
                </Group>
                <Progress.Root size="md" mt={2}>
                  <Progress.Section
                    value={percent ?? 0}
                    color={ready ? "orange" : "green"}
                    aria-label={`Feedback waiting for ${label}`}
                  />
                </Progress.Root>
                <Text size="xs" c={MUTED} mt={2}>
                  {t.model.name} · {t.last_fired_at ? `last fired ${timeAgo(t.last_fired_at)}` : "never fired"}
                  {percent === null ? " · waiting count not known yet" : ""}
                </Text>
              </div>
            );
          })}
        </Stack>
      )}
    </Panel>
  );
}

export function ModelsPanel({ models, serving }: { models: OverviewModel["models"]; serving: OverviewModel["serving"] }) {
  const sorted = [...models].sort(
    (a, b) => Number("production" in b.aliases) - Number("production" in a.aliases) || a.name.localeCompare(b.name),
  );
  return (
    <Panel
      title="Models and what serves"
      action={
        <AnchorLink to="/models" size="sm" search={partialSearch()}>
          All models
        </AnchorLink>
      }
    >
      <Text size="sm" mb="xs">
        Predictions, 24 h: <b>{serving.predictions_24h === null ? "—" : formatCount(serving.predictions_24h)}</b> ·
        feedback, 24 h: <b>{serving.feedback_24h === null ? "—" : formatCount(serving.feedback_24h)}</b>
      </Text>
      {sorted.length === 0 ? (
        <None>No models yet. A finished train job registers one.</None>
      ) : (
        <Table.ScrollContainer minWidth={320}>
          <Table aria-label="Models" verticalSpacing={4}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Model</Table.Th>
                <Table.Th>Latest</Table.Th>
                <Table.Th>Aliases</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {sorted.slice(0, 8).map((m) => (
                <Table.Tr key={m.id}>
                  <Table.Td>
                    <AnchorLink to="/models/$modelId" params={{ modelId: m.id }} size="sm" search={partialSearch()}>
                      {m.name}
                    </AnchorLink>
                    <Text size="xs" c={MUTED}>
                      {m.task || "no task (MLflow)"}
                    </Text>
                  </Table.Td>
                  <Table.Td>{m.latest_version ? `v${m.latest_version.version}` : "—"}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      {Object.keys(m.aliases).length === 0 ? (
                        <Text size="xs" c={MUTED}>
                          none
                        </Text>
                      ) : (
                        Object.entries(m.aliases).map(([alias, v]) => (
                          <Badge
                            key={alias}
                            size="sm"
                            variant={alias === "production" ? "filled" : "default"}
                            color={alias === "production" ? PRODUCTION_BG : undefined}
                            tt="none"
                          >
                            {alias}
                            {v.version !== null ? ` → v${v.version}` : ""}
                          </Badge>
                        ))
                      )}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {sorted.length > 8 && <None>and {sorted.length - 8} more.</None>}
    </Panel>
  );
}

export function DatasetsPanel({ datasets }: { datasets: OverviewModel["datasets"] }) {
  return (
    <Panel
      title={`Data sets (${formatCount(datasets.count)})`}
      action={
        <AnchorLink to="/datasets" size="sm" search={partialSearch()}>
          All data sets
        </AnchorLink>
      }
    >
      {datasets.recent.length === 0 ? (
        <None>No data sets yet. Upload a file or import a built-in set.</None>
      ) : (
        <Stack gap={6}>
          {datasets.recent.map((d) => (
            <Group key={d.id} justify="space-between" gap="xs" wrap="nowrap">
              <div style={{ minWidth: 0 }}>
                <AnchorLink to="/datasets/$datasetId" params={{ datasetId: d.id }} size="sm" truncate search={partialSearch()}>
                  {d.name}
                </AnchorLink>
                <Text size="xs" c={MUTED}>
                  {d.task} · {d.versions} version{d.versions === 1 ? "" : "s"}
                </Text>
              </div>
              <Text size="xs" c={MUTED} style={{ whiteSpace: "nowrap" }}>
                {timeAgo(d.updated_at)}
              </Text>
            </Group>
          ))}
        </Stack>
      )}
    </Panel>
  );
}

export function UsagePanel({ usage }: { usage: OverviewModel["usage"] }) {
  const items = [
    ["Running jobs", formatCount(usage.running_jobs)],
    ["CPU time", formatSeconds(usage.cpu_seconds)],
    ["GPU time", formatSeconds(usage.gpu_seconds)],
    ["Storage", formatBytes(usage.storage_bytes)],
  ];
  return (
    <Panel
      title="Usage"
      action={
        <AnchorLink to="/team" search={partialSearch({ tab: "usage" })} size="sm">
          Details
        </AnchorLink>
      }
    >
      <Group gap="xl" wrap="wrap">
        {items.map(([label, value]) => (
          <div key={label}>
            <Text size="xs" c={MUTED} tt="uppercase" fw={600}>
              {label}
            </Text>
            <Text size="lg" fw={700}>
              {value}
            </Text>
          </div>
        ))}
      </Group>
    </Panel>
  );
}
