/** The lineage graph of a version: parents -> this version -> children, and the models trained on it. */
import { Anchor, List, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { Link } from "@tanstack/react-router";
import { lazy, Suspense, useMemo } from "react";
import { lineageGraph } from "../../lib/datasets";
import { useLineage } from "../../lib/datasetsQueries";
import { ErrorState, Loading } from "../states";

// xyflow is heavy: load it only when this tab opens
const Graph = lazy(() => import("../Graph").then((m) => ({ default: m.Graph })));

/** The models route reads ?version= as text but accepts a number, which keeps the URL ?version=3 (a string "3" would be written as %223%22). */
const modelVersion = (v: number) => v as unknown as string;

export function LineageTab({ versionId }: { versionId: string }) {
  const lineage = useLineage(versionId);
  const graph = useMemo(() => (lineage.data ? lineageGraph(lineage.data) : null), [lineage.data]);
  if (lineage.isPending) return <Loading label="Loading lineage…" />;
  if (lineage.isError) return <ErrorState error={lineage.error} title="The lineage could not be loaded" />;
  const { parents, children, models } = lineage.data;
  return (
    <Stack gap="md">
      <Text size="sm" c="dimmed">
        {parents.length} parent{parents.length === 1 ? "" : "s"} · {children.length} derived version{children.length === 1 ? "" : "s"} ·{" "}
        {models.length} model version{models.length === 1 ? "" : "s"} trained on it. Click a node to open it.
      </Text>
      <Suspense fallback={<Loading label="Drawing the graph…" />}>
        <Graph nodes={graph!.nodes} edges={graph!.edges} height={360} label="Lineage graph" />
      </Suspense>
      <SimpleGrid cols={{ base: 1, md: 3 }}>
        <Stack gap={4}>
          <Title order={4} size="h6">
            Parents
          </Title>
          {parents.length === 0 ? (
            <Text size="sm" c="dimmed">None: an original upload or import.</Text>
          ) : (
            <List size="sm">
              {parents.map((p) => (
                <List.Item key={p.id}>
                  <Anchor renderRoot={(props) => <Link {...props} to="/datasets/$datasetId" params={{ datasetId: p.dataset }} search={{ tab: "lineage", version: p.version, other: undefined, offset: undefined }} />}>
                    {p.dataset_name} v{p.version}
                  </Anchor>{" "}
                  ({p.source})
                </List.Item>
              ))}
            </List>
          )}
        </Stack>
        <Stack gap={4}>
          <Title order={4} size="h6">
            Derived versions
          </Title>
          {children.length === 0 ? (
            <Text size="sm" c="dimmed">None yet.</Text>
          ) : (
            <List size="sm">
              {children.map((c) => (
                <List.Item key={c.id}>
                  <Anchor renderRoot={(props) => <Link {...props} to="/datasets/$datasetId" params={{ datasetId: c.dataset }} search={{ tab: "lineage", version: c.version, other: undefined, offset: undefined }} />}>
                    {c.dataset_name} v{c.version}
                  </Anchor>{" "}
                  ({c.source})
                </List.Item>
              ))}
            </List>
          )}
        </Stack>
        <Stack gap={4}>
          <Title order={4} size="h6">
            Models trained on it
          </Title>
          {models.length === 0 ? (
            <Text size="sm" c="dimmed">None yet.</Text>
          ) : (
            <List size="sm">
              {models.map((m) => (
                <List.Item key={m.id}>
                  <Anchor renderRoot={(props) => <Link {...props} to="/models/$modelId" params={{ modelId: m.model }} search={{ tab: "versions", version: modelVersion(m.version) }} />}>
                    {m.model_name} v{m.version}
                  </Anchor>
                </List.Item>
              ))}
            </List>
          )}
        </Stack>
      </SimpleGrid>
    </Stack>
  );
}
