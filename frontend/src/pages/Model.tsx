/** One model: versions, model card, evaluations, gate and "Try it", with links to Promote, Timeline and Serving. */
import { Badge, Group, Stack, Tabs, Text, Title } from "@mantine/core";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { AliasBadges } from "../components/models/AliasBadges";
import { CardTab } from "../components/models/CardTab";
import { EvaluationsTab } from "../components/models/EvaluationsTab";
import { GateTab } from "../components/models/GateTab";
import { ModelPageButton } from "../components/models/links";
import { useGate, useModel, useVersions } from "../components/models/queries";
import { TryTab } from "../components/models/TryTab";
import { VersionsTab } from "../components/models/VersionsTab";
import { ErrorState, Loading } from "../components/states";
import type { MODEL_TABS } from "../router";

const route = getRouteApi("/models/$modelId");
type Tab = (typeof MODEL_TABS)[number];

const TAB_LABELS: Record<Tab, string> = {
  versions: "Versions",
  card: "Model card",
  evaluations: "Evaluations",
  gate: "Gate",
  try: "Try it",
};

export default function ModelPage() {
  const { modelId } = route.useParams();
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/models/$modelId" });
  const model = useModel(modelId);
  const versions = useVersions(modelId);
  const gate = useGate(modelId);

  if (model.isPending) return <Loading label="Loading the model…" />;
  if (model.isError) return <ErrorState error={model.error} title="This model could not be loaded" />;
  const m = model.data;
  const selectedVersion = versions.data?.results.find((v) => v.id === search.version);
  const versionNumbers = new Map((versions.data?.results ?? []).map((v) => [v.id, v.version]));

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <Stack gap={4}>
          <Group gap="xs">
            <Title order={2}>{m.name}</Title>
            <Badge variant="light" color="gray">
              {m.task || "no task (MLflow)"}
            </Badge>
          </Group>
          {m.description && <Text c="dimmed">{m.description}</Text>}
          <Group gap="xs">
            <Text size="sm">
              {m.num_versions} version{m.num_versions === 1 ? "" : "s"}
              {Object.keys(m.aliases).length > 0 && " · "}
              {Object.entries(m.aliases)
                .map(([a, v]) => `${a} → v${versionNumbers.get(v) ?? "?"}`)
                .join(", ")}
            </Text>
            <AliasBadges aliases={Object.keys(m.aliases)} />
          </Group>
        </Stack>
        <Group gap="xs">
          <ModelPageButton modelId={m.id} page="promote" version={search.version} variant="filled">
            Promote
          </ModelPageButton>
          <ModelPageButton modelId={m.id} page="timeline" variant="default">
            Timeline
          </ModelPageButton>
          <ModelPageButton modelId={m.id} page="serving" version={search.version} variant="default">
            Serving
          </ModelPageButton>
        </Group>
      </Group>

      <Tabs
        value={search.tab}
        onChange={(t) => t && void navigate({ search: (s) => ({ ...s, tab: t as Tab }), replace: true })}
        keepMounted={false}
      >
        <Tabs.List style={{ overflowX: "auto", flexWrap: "nowrap" }}>
          {(Object.keys(TAB_LABELS) as Tab[]).map((t) => (
            <Tabs.Tab key={t} value={t}>
              {TAB_LABELS[t]}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="versions" pt="md">
          {versions.isPending ? (
            <Loading label="Loading versions…" />
          ) : versions.isError ? (
            <ErrorState error={versions.error} />
          ) : (
            <VersionsTab
              model={m}
              versions={versions.data.results}
              selected={search.version}
              onSelect={(id) => void navigate({ search: (s) => ({ ...s, version: id }), replace: true })}
            />
          )}
        </Tabs.Panel>
        <Tabs.Panel value="card" pt="md">
          <CardTab model={m} gate={gate.data} />
        </Tabs.Panel>
        <Tabs.Panel value="evaluations" pt="md">
          {versions.data ? (
            <EvaluationsTab
              modelId={m.id}
              versions={versions.data.results}
              selectedVersion={selectedVersion?.id}
              selected={search.evaluation}
              onSelect={(id) => void navigate({ search: (s) => ({ ...s, evaluation: id }), replace: true })}
            />
          ) : (
            <Loading />
          )}
        </Tabs.Panel>
        <Tabs.Panel value="gate" pt="md">
          {gate.isPending ? <Loading /> : gate.isError ? <ErrorState error={gate.error} /> : <GateTab model={m} gate={gate.data} />}
        </Tabs.Panel>
        <Tabs.Panel value="try" pt="md">
          {versions.data ? (
            <TryTab modelId={m.id} task={m.task} versions={versions.data.results} initial={selectedVersion?.id} />
          ) : (
            <Loading />
          )}
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
