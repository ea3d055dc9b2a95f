/** Evaluations of the model's versions: a table, a leaderboard per evaluation set, a confusion matrix for one. */
import { Card, SimpleGrid, Stack, Table, Text, Title, UnstyledButton } from "@mantine/core";
import type { Schemas } from "../../api/client";
import { confusionMatrix, formatMetric, inputSchema, leaderboards } from "../../lib/models";
import { Empty, QueryState } from "../states";
import { ConfusionMatrix } from "./ConfusionMatrix";
import { JobLink } from "./links";
import { LeaderboardChart } from "./LeaderboardChart";
import { useModelEvaluations } from "./queries";
import { formatDateTime } from "../../lib/overviewFormat";

export function EvaluationsTab({
  modelId,
  versions,
  selectedVersion,
  selected,
  onSelect,
}: {
  modelId: string;
  versions: Schemas["ModelVersion"][];
  selectedVersion: string | undefined;
  selected: string | undefined;
  onSelect: (evaluationId: string) => void;
}) {
  const evaluations = useModelEvaluations(modelId);
  return (
    <QueryState query={evaluations} loading="Loading evaluations…">
      {(all) => {
        if (all.length === 0)
          return (
            <Empty title="No evaluations yet">
              Submit an evaluate job (Submit → evaluate) of a version on a data set version to see it here.
            </Empty>
          );
        const sorted = [...all].sort((a, b) => b.created_at.localeCompare(a.created_at));
        const current = sorted.find((e) => e.id === selected) ?? sorted.find((e) => confusionMatrix(e.metrics)) ?? sorted[0];
        const version = versions.find((v) => v.id === current.model_version);
        const cm = confusionMatrix(current.metrics, inputSchema(version?.spec).classes);
        const boards = leaderboards(sorted);
        return (
          <Stack>
            <Title order={3}>Leaderboards</Title>
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              {boards.map((b) => (
                <Card withBorder key={b.key}>
                  <Text fw={600} size="sm" mb="xs">
                    {b.dataset} · {b.split}
                  </Text>
                  <LeaderboardChart board={b} highlight={selectedVersion ?? current.model_version} />
                </Card>
              ))}
            </SimpleGrid>
            <Title order={3}>All evaluations</Title>
            <Table.ScrollContainer minWidth={760}>
              <Table highlightOnHover verticalSpacing="xs">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Version</Table.Th>
                    <Table.Th>Data set</Table.Th>
                    <Table.Th>Split</Table.Th>
                    <Table.Th>Metric</Table.Th>
                    <Table.Th ta="right">Score</Table.Th>
                    <Table.Th ta="right">Rows</Table.Th>
                    <Table.Th>Job</Table.Th>
                    <Table.Th>Created</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {sorted.map((e) => {
                    const active = e.id === current.id;
                    return (
                      <Table.Tr key={e.id}>
                        <Table.Td>
                          <UnstyledButton
                            onClick={() => onSelect(e.id)}
                            aria-pressed={active}
                            aria-label={`Show the evaluation of v${e.version} on ${e.dataset} (${e.split})`}
                            fw={700}
                            c={active ? "var(--mantine-color-text)" : "var(--mantine-color-anchor)"}
                            td="underline"
                          >
                            v{e.version}
                          </UnstyledButton>
                        </Table.Td>
                        <Table.Td>{e.dataset}</Table.Td>
                        <Table.Td>{e.split}</Table.Td>
                        <Table.Td>{e.metric}</Table.Td>
                        <Table.Td ta="right" style={{ fontVariantNumeric: "tabular-nums" }}>
                          {formatMetric(e.score)}
                        </Table.Td>
                        <Table.Td ta="right">{e.num_rows}</Table.Td>
                        <Table.Td>{e.job ? <JobLink jobId={e.job} size="sm">{e.job.slice(0, 8)}</JobLink> : "—"}</Table.Td>
                        <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(e.created_at)}</Table.Td>
                      </Table.Tr>
                    );
                  })}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Title order={3}>
              Confusion matrix: v{current.version} on {current.dataset} ({current.split})
            </Title>
            {cm ? (
              <ConfusionMatrix cm={cm} caption={`v${current.version} on ${current.dataset} (${current.split}), ${current.num_rows} rows`} />
            ) : (
              <Text size="sm" c="dimmed">
                This evaluation has no confusion matrix (regression, or an older evaluation).
              </Text>
            )}
          </Stack>
        );
      }}
    </QueryState>
  );
}
