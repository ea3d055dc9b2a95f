/** The model page's versions tab: every version in a table, and the selected version's details and actions. */
import { Alert, Anchor, Badge, Button, Card, Code, Group, Menu, SimpleGrid, Stack, Table, Text, Title, UnstyledButton } from "@mantine/core";
import { useState } from "react";
import { errorMessage, type Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { confusionMatrix, formatBytes, formatMetric, inputSchema, keyMetrics, numericMetrics } from "../../lib/models";
import { Empty } from "../states";
import { AliasBadges } from "./AliasBadges";
import { BaseLink, CheckpointSection } from "./Checkpoint";
import { ConfusionMatrix } from "./ConfusionMatrix";
import { DatasetLink, JobLink, ModelLink, ModelPageButton } from "./links";
import { useDatasetVersion, useSubmitJob } from "./queries";
import { formatDateTime } from "../../lib/overviewFormat";

type Version = Schemas["ModelVersion"];
type Model = Schemas["RegisteredModel"];

function DatasetVersionLink({ id }: { id: string }) {
  const dv = useDatasetVersion(id);
  if (!dv.data) return <Code>{id.slice(0, 8)}</Code>;
  return (
    <DatasetLink datasetId={dv.data.dataset} version={dv.data.id} size="sm">
      {dv.data.dataset_name} v{dv.data.version}
    </DatasetLink>
  );
}

/** The model's versions and which one is selected (its id, kept in the URL). */
interface VersionsProps {
  model: Model;
  versions: Version[];
  selected: string | undefined;
  onSelect: (id: string) => void;
}

export function VersionsTable({
  model,
  versions,
  selected,
  onSelect,
}: VersionsProps) {
  const metricNames = [...new Set(versions.flatMap((v) => keyMetrics(v.metrics, model.task, 2).map(([k]) => k)))].slice(0, 3);
  return (
    <Table.ScrollContainer minWidth={900}>
      <Table highlightOnHover verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Version</Table.Th>
            <Table.Th>Aliases</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Format</Table.Th>
            {metricNames.map((m) => (
              <Table.Th key={m} ta="right">
                {m}
              </Table.Th>
            ))}
            <Table.Th>Source job</Table.Th>
            <Table.Th>Data sets</Table.Th>
            <Table.Th>Created</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {versions.map((v) => {
            const metrics = numericMetrics(v.metrics);
            const active = v.id === selected;
            return (
              <Table.Tr key={v.id} aria-selected={active}>
                <Table.Td>
                  <UnstyledButton
                    onClick={() => onSelect(v.id)}
                    aria-pressed={active}
                    aria-label={`Show version ${v.version}`}
                    fw={700}
                    c={active ? "var(--mantine-color-text)" : "var(--mantine-color-anchor)"}
                    td="underline"
                  >
                    {active ? "▸ " : ""}v{v.version}
                  </UnstyledButton>
                </Table.Td>
                <Table.Td>
                  <AliasBadges aliases={v.aliases} />
                </Table.Td>
                <Table.Td>
                  <Badge size="sm" variant="light" color={v.status === "ready" ? "green" : "gray"}>
                    {v.status}
                  </Badge>
                </Table.Td>
                <Table.Td>{v.format}</Table.Td>
                {metricNames.map((m) => (
                  <Table.Td key={m} ta="right" style={{ fontVariantNumeric: "tabular-nums" }}>
                    {formatMetric(metrics[m])}
                  </Table.Td>
                ))}
                <Table.Td>
                  {v.job ? (
                    <JobLink jobId={v.job} size="sm">
                      {v.job.slice(0, 8)}
                    </JobLink>
                  ) : (
                    <Text size="sm" c="dimmed">
                      uploaded
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <Stack gap={0}>
                    {v.dataset_versions.length === 0 && <Text size="sm">—</Text>}
                    {v.dataset_versions.map((d) => (
                      <DatasetVersionLink key={d} id={d} />
                    ))}
                  </Stack>
                </Table.Td>
                <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(v.created_at)}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function Actions({ model, version }: { model: Model; version: Version }) {
  const submit = useSubmitJob();
  const [last, setLast] = useState<string>("");
  const run = (kind: "export" | "quantize", spec: Record<string, unknown>, what: string) => {
    setLast(what);
    submit.mutate({ team: model.team, kind, spec: { model_version: version.id, ...spec } });
  };
  return (
    <Stack gap="xs">
      <Group gap="xs">
        <Menu position="bottom-start">
          <Menu.Target>
            <Button variant="default" size="sm" loading={submit.isPending && last.startsWith("export")}>
              Export
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            <Menu.Item onClick={() => run("export", { format: "onnx" }, "export to ONNX")}>Export to ONNX</Menu.Item>
            <Menu.Item onClick={() => run("export", { format: "torchscript" }, "export to TorchScript")}>
              Export to TorchScript
            </Menu.Item>
          </Menu.Dropdown>
        </Menu>
        <Button
          variant="default"
          size="sm"
          loading={submit.isPending && last.startsWith("quantize")}
          onClick={() => run("quantize", { dtype: "int8" }, "quantize to int8")}
        >
          Quantize (int8)
        </Button>
      </Group>
      {submit.isSuccess && (
        <Alert color="green" variant="light" role="status">
          The {last} job is queued: <JobLink jobId={submit.data.id}>job {submit.data.id.slice(0, 8)}</JobLink>. Its
          version appears here when it succeeds.
        </Alert>
      )}
      {submit.isError && (
        <Alert color="red" variant="light" role="alert" title={`Could not ${last}`}>
          {errorMessage(submit.error)}
        </Alert>
      )}
    </Stack>
  );
}

/** What an opaque MLflow version's spec says: `{"mlflow": {"flavors": [...], "reason": "..."}}`. */
function mlflowFacts(spec: unknown): { flavors?: string[]; reason?: string } {
  const facts = (spec as { mlflow?: { flavors?: string[]; reason?: string } } | null)?.mlflow;
  return facts ?? {};
}
const mlflowFlavors = (spec: unknown) => (mlflowFacts(spec).flavors ?? []).join(", ") || "no flavour";
const mlflowReason = (spec: unknown) => mlflowFacts(spec).reason ?? "Eco serves ONNX models only";

function JsonBlock({ value, label }: { value: unknown; label: string }) {
  const text = JSON.stringify(value ?? {}, null, 2);
  return (
    <Code block aria-label={label} tabIndex={0} style={{ maxHeight: 260, overflow: "auto", fontSize: 12 }}>
      {text === "{}" ? "(none)" : text}
    </Code>
  );
}

export function VersionDetail({ model, version, versions }: { model: Model; version: Version; versions: Version[] }) {
  const canWrite = useCan("member");
  const metrics = numericMetrics(version.metrics);
  const names = Object.keys(metrics).sort((a, b) => Number(a.startsWith("val_")) - Number(b.startsWith("val_")) || a.localeCompare(b));
  const parent = versions.find((v) => v.id === version.parent);
  const schema = inputSchema(version.spec);
  const cm = confusionMatrix(version.metrics, schema.classes);
  return (
    <Card withBorder padding="md">
      <Stack gap="md">
        <Group justify="space-between" align="flex-start">
          <Stack gap={4}>
            <Title order={3}>Version {version.version}</Title>
            <Group gap="xs">
              <AliasBadges aliases={version.aliases} />
              <Text size="sm" c="dimmed">
                {version.format} · {formatBytes(version.size_bytes)} · {version.num_parameters.toLocaleString()} parameters
              </Text>
            </Group>
            {version.description && <Text size="sm">{version.description}</Text>}
          </Stack>
          <Group gap="xs">
            <Button component="a" href={`/api/v1/model-versions/${version.id}/download/`} variant="default" size="sm" download>
              Download
            </Button>
            <ModelPageButton modelId={model.id} page="promote" version={version.id} variant="light" size="sm">
              Promote v{version.version}
            </ModelPageButton>
          </Group>
        </Group>
        {version.format === "mlflow" ? (
          <Alert color="gray" variant="light" title="Stored, not served">
            An MLflow model ({mlflowFlavors(version.spec)}) that Eco keeps but never loads: {mlflowReason(version.spec)}.
            Download it through MLflow (models:/{model.name}/{version.version}).
          </Alert>
        ) : (
          canWrite && <Actions model={model} version={version} />
        )}
        <CheckpointSection version={version} />
        <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
          <Stack gap="xs">
            <Title order={4}>Metrics</Title>
            {names.length === 0 ? (
              <Text size="sm" c="dimmed">
                No metrics recorded.
              </Text>
            ) : (
              <Table.ScrollContainer minWidth={240}>
                <Table verticalSpacing={2} withRowBorders={false}>
                  <Table.Tbody>
                    {names.map((n) => (
                      <Table.Tr key={n}>
                        <Table.Th scope="row" fw={400}>
                          {n}
                        </Table.Th>
                        <Table.Td ta="right" style={{ fontVariantNumeric: "tabular-nums" }}>
                          {formatMetric(metrics[n])}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
            <Title order={4}>Lineage</Title>
            <Text size="sm">
              Source job:{" "}
              {version.job ? <JobLink jobId={version.job}>{version.job.slice(0, 8)}</JobLink> : "none (uploaded)"}
            </Text>
            <Text size="sm" component="div">
              Parent:{" "}
              {version.parent && parent ? (
                <ModelLink modelId={model.id} version={version.parent}>
                  v{parent.version}
                </ModelLink>
              ) : version.parent ? (
                <BaseLink id={version.parent} />
              ) : (
                "none"
              )}
            </Text>
            <Text size="sm" component="div">
              Data sets:{" "}
              {version.dataset_versions.length === 0
                ? "none recorded"
                : version.dataset_versions.map((d, i) => (
                    <span key={d}>
                      {i > 0 && ", "}
                      <DatasetVersionLink id={d} />
                    </span>
                  ))}
            </Text>
            <Text size="xs" c="dimmed" style={{ wordBreak: "break-all" }}>
              sha256 {version.sha256}
            </Text>
          </Stack>
          <Stack gap="xs">
            <Title order={4}>Params</Title>
            <JsonBlock value={version.params} label="Params" />
            <Title order={4}>Input</Title>
            <Text size="sm">
              {schema.kind === "tabular" && `${schema.fields.length} numeric features: ${schema.fields.map((f) => f.name).join(", ")}`}
              {schema.kind === "text" && `Text in the column "${schema.fields[0].name}"`}
              {schema.kind === "image" && `Images of ${schema.imageShape?.join(" × ") ?? "?"} pixels`}
              {schema.kind === "unknown" && "Not described by the version's spec."}
              {schema.classes.length > 0 && ` → one of ${schema.classes.length} classes`}
            </Text>
          </Stack>
        </SimpleGrid>
        {cm && (
          <Stack gap="xs">
            <Title order={4}>Confusion matrix (test rows)</Title>
            <ConfusionMatrix cm={cm} caption={`Version ${version.version} on its test rows`} />
          </Stack>
        )}
        <Anchor size="sm" href={`/api/v1/model-versions/${version.id}/`}>
          The version as JSON
        </Anchor>
      </Stack>
    </Card>
  );
}

export function VersionsTab({
  model,
  versions,
  selected,
  onSelect,
}: VersionsProps) {
  if (versions.length === 0)
    return (
      <Empty title="No versions yet">
        A train job registers a version when it succeeds; or register one through the API (POST weights and spec).
      </Empty>
    );
  const version = versions.find((v) => v.id === selected) ?? versions[0];
  return (
    <Stack>
      <VersionsTable model={model} versions={versions} selected={version.id} onSelect={onSelect} />
      <VersionDetail model={model} version={version} versions={versions} />
    </Stack>
  );
}
