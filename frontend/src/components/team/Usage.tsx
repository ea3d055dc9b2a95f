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
      <div>
        <Title order={3} size="h5" mb="xs">
          Quota
        </Title>
        <Text size="sm" c={MUTED}>
          {usage.quota ? JSON.stringify(usage.quota) : "No quota: limits arrive with resource governance."}
        </Text>
      </div>
    </Stack>
  );
}
