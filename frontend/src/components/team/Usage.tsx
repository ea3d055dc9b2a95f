/** What the team uses (the usage endpoint) as cards and a table of jobs by status. */
import { Paper, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import type { Schemas } from "../../api/client";
import { formatBytes, formatCount, formatSeconds } from "../../lib/overviewFormat";
import { MUTED } from "../links";

type Usage = Schemas["TeamUsage"];

export function StatCard({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Paper withBorder p="sm" radius="md">
      <Text size="xs" c={MUTED} tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} mt={2}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c={MUTED}>
          {hint}
        </Text>
      )}
    </Paper>
  );
}

type PoolQuota = {
  accelerator: string;
  capacity: number;
  weight: number;
  max_concurrent_jobs: number | null;
  max_gpus: number | null;
  gpu_hours_per_month: number | null;
  cpu_hours_per_month: number | null;
  running_jobs: number;
  admitted_jobs: number;
  waiting_jobs: number;
  gpus_in_use: number;
  gpu_hours_this_month: number;
  cpu_hours_this_month: number;
};

function limit(used: number, max: number | null, digits = 0): string {
  const shown = used.toLocaleString("en-US", { maximumFractionDigits: digits });
  return max === null ? `${shown} (no limit)` : `${shown} of ${max.toLocaleString("en-US")}`;
}

/** The team's quota on each pool: limits, what it holds now and what it used this month (UTC). */
function QuotaTable({ quota }: { quota: Usage["quota"] }) {
  const pools = Object.entries(quota as Record<string, PoolQuota>).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div>
      <Title order={3} size="h5" mb="xs">
        Quotas
      </Title>
      {pools.length === 0 ? (
        <Text size="sm" c={MUTED}>
          No quota on any pool: this team's jobs are limited only by the pools' capacity.
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table aria-label="Quotas by pool">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Pool</Table.Th>
                <Table.Th>Weight</Table.Th>
                <Table.Th>Jobs admitted</Table.Th>
                <Table.Th>Waiting</Table.Th>
                <Table.Th>GPUs in use</Table.Th>
                <Table.Th>GPU-hours this month</Table.Th>
                <Table.Th>CPU-hours this month</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {pools.map(([name, q]) => (
                <Table.Tr key={name}>
                  <Table.Td>
                    {name}{" "}
                    <Text span size="xs" c={MUTED}>
                      ({q.capacity} {q.accelerator === "gpu" ? "GPUs" : "slots"})
                    </Text>
                  </Table.Td>
                  <Table.Td>{q.weight}</Table.Td>
                  <Table.Td>{limit(q.admitted_jobs, q.max_concurrent_jobs)}</Table.Td>
                  <Table.Td>{formatCount(q.waiting_jobs)}</Table.Td>
                  <Table.Td>{limit(q.gpus_in_use, q.max_gpus)}</Table.Td>
                  <Table.Td>{limit(q.gpu_hours_this_month, q.gpu_hours_per_month, 1)}</Table.Td>
                  <Table.Td>{limit(q.cpu_hours_this_month, q.cpu_hours_per_month, 1)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </div>
  );
}

export function UsageView({ usage }: { usage: Usage }) {
  const statuses = Object.entries(usage.jobs).sort((a, b) => b[1] - a[1]);
  const total = statuses.reduce((n, [, c]) => n + c, 0);
  return (
    <Stack gap="lg">
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }} spacing="sm">
        <StatCard label="Running jobs" value={formatCount(usage.running_jobs)} />
        <StatCard label="CPU time" value={formatSeconds(usage.cpu_seconds)} hint={`${formatCount(usage.cpu_seconds)} s`} />
        <StatCard label="GPU time" value={formatSeconds(usage.gpu_seconds)} hint={`${formatCount(usage.gpu_seconds)} s`} />
        <StatCard label="Storage" value={formatBytes(usage.storage_bytes)} hint={`${formatCount(usage.blobs)} blobs`} />
        <StatCard label="Metric points" value={formatCount(usage.metric_points)} />
        <StatCard label="Jobs" value={formatCount(total)} hint="all time" />
      </SimpleGrid>
      <div>
        <Title order={3} size="h5" mb="xs">
          Jobs by status
        </Title>
        {statuses.length === 0 ? (
          <Text size="sm" c={MUTED}>
            No jobs yet.
          </Text>
        ) : (
          <Table.ScrollContainer minWidth={280}>
            <Table aria-label="Jobs by status" maw={420}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Status</Table.Th>
                  <Table.Th ta="right">Jobs</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {statuses.map(([status, count]) => (
                  <Table.Tr key={status}>
                    <Table.Td>{status}</Table.Td>
                    <Table.Td ta="right">{formatCount(count)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </div>
      <QuotaTable quota={usage.quota} />
    </Stack>
  );
}
