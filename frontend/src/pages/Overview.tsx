/**
 * Overview (/): the loop as one picture for the current team (data sets, jobs, models and aliases, feedback
 * toward each retrain trigger, usage), refetched every 5 s. Kept light: no charts, graphs or Markdown here.
 */
import { Group, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { useTeam } from "../auth";
import { Loop } from "../components/overview/Loop";
import { DatasetsPanel, JobsPanel, ModelsPanel, TriggersPanel, UsagePanel } from "../components/overview/Sections";
import { useOverview } from "../components/overview/useOverview";
import { ErrorState, Loading } from "../components/states";
import { loopStages } from "../lib/overview";
import { MUTED } from "../components/links";

export default function OverviewPage() {
  const { team } = useTeam();
  const overview = useOverview(team?.slug);
  return (
    <Stack gap="md">
      <Group justify="space-between" align="baseline">
        <Title order={2}>Overview</Title>
        {overview.data && (
          <Text size="xs" c={MUTED} role="status">
            {team?.name || team?.slug} · live, every 5 s{overview.isFetching ? " · updating…" : ""}
          </Text>
        )}
      </Group>
      {overview.isPending ? (
        <Loading label="Loading the overview…" />
      ) : overview.isError && !overview.data ? (
        <ErrorState error={overview.error} title="The overview could not be loaded" />
      ) : (
        <>
          {overview.isError && <ErrorState error={overview.error} title="The last refresh failed; showing older data" />}
          <section aria-labelledby="loop-heading">
            <Title order={3} size="h4" id="loop-heading" mb="xs">
              The loop
            </Title>
            <Loop stages={loopStages(overview.data)} />
          </section>
          <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
            <JobsPanel jobs={overview.data.jobs} />
            <TriggersPanel triggers={overview.data.triggers} />
            <ModelsPanel models={overview.data.models} serving={overview.data.serving} />
            <DatasetsPanel datasets={overview.data.datasets} />
          </SimpleGrid>
          <UsagePanel usage={overview.data.usage} />
        </>
      )}
    </Stack>
  );
}
