/**
 * Pieces of the job page (and Compare): status badge, links to the versions a job read and wrote, the params
 * table and the metric summaries table.
 */
import { Badge, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { AnchorLink, partialSearch } from "../links";
import { api, unwrap, type Schemas } from "../../api/client";
import { defaultDirection, formatValue } from "../../lib/chart";
import { flattenParams, type Scalar } from "../../lib/chartCompare";

/** A job as the detail and list endpoints answer it (with `metric_summaries` and flat `params`). */
export type JobDetail = Schemas["Job"];

/**
 * A metric's summary: the server's (every field), or what the metric key list tells (last value only), which
 * the page falls back to while a summary is missing.
 */
export type MetricSummary = Pick<Schemas["MetricSummary"], "last" | "last_step"> & Partial<Schemas["MetricSummary"]>;

export const STATUS_COLOR: Record<Schemas["JobStatusEnum"], string> = {
  queued: "gray",
  running: "blue",
  succeeded: "green",
  failed: "red",
  cancelled: "orange",
};

export function isActive(status: Schemas["JobStatusEnum"] | undefined): boolean {
  return status === "queued" || status === "running";
}

export function StatusBadge({ status }: { status: Schemas["JobStatusEnum"] }) {
  return (
    <Badge color={STATUS_COLOR[status]} variant="light" aria-label={`Status: ${status}`}>
      {status}
    </Badge>
  );
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** The job's params: the server's flattened `params`, else the spec flattened here. */
export function jobParams(job: JobDetail): Record<string, Scalar> {
  return job.params && Object.keys(job.params).length ? job.params : flattenParams(job.spec);
}

/** The job's metric summaries: the server's, else what the metric key list tells (last value only). */
export function jobSummaries(
  job: JobDetail,
  keys?: Schemas["MetricKey"][],
): Record<string, MetricSummary> {
  if (job.metric_summaries && Object.keys(job.metric_summaries).length) return job.metric_summaries;
  const out: Record<string, MetricSummary> = {};
  for (const k of keys ?? []) if (k.last_value !== null) out[k.key] = { last: k.last_value, last_step: k.last_step, count: k.count };
  return out;
}

function isUuid(v: unknown): v is string {
  return typeof v === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);
}

/** A link to a data set version (/datasets/<id>?version=<v>), named once the version is read. */
export function DatasetVersionLink({ id }: { id: string }) {
  const q = useQuery({
    queryKey: ["dataset-version", id],
    queryFn: () => unwrap(api.GET("/api/v1/dataset-versions/{id}/", { params: { path: { id } } })),
    enabled: isUuid(id),
    staleTime: 60_000,
  });
  if (!q.data) return <Text span ff="monospace" size="sm">{q.isError ? `${shortId(id)} (not visible)` : shortId(id)}</Text>;
  return (
    <AnchorLink to="/datasets/$datasetId" params={{ datasetId: q.data.dataset }} search={partialSearch({ version: String(q.data.version) })}>
      {q.data.dataset_name} v{q.data.version}
    </AnchorLink>
  );
}

/** A link to a model version (/models/<model>?version=<v>), named once the version is read. */
export function ModelVersionLink({ id }: { id: string }) {
  const q = useQuery({
    queryKey: ["model-version", id],
    queryFn: () => unwrap(api.GET("/api/v1/model-versions/{id}/", { params: { path: { id } } })),
    enabled: isUuid(id),
    staleTime: 60_000,
  });
  if (!q.data) return <Text span ff="monospace" size="sm">{q.isError ? `${shortId(id)} (not visible)` : shortId(id)}</Text>;
  return (
    <AnchorLink to="/models/$modelId" params={{ modelId: q.data.model }} search={partialSearch({ version: q.data.id })}>
      {q.data.model_name} v{q.data.version}
    </AnchorLink>
  );
}

export interface JobLink {
  label: string;
  node: React.ReactNode;
}

/** What the job read (lineage) and what it wrote (outputs), as labelled links. */
export function jobLinks(job: JobDetail): { inputs: JobLink[]; outputs: JobLink[] } {
  const spec = (job.spec ?? {}) as Record<string, unknown>;
  const out = (job.outputs ?? {}) as Record<string, unknown>;
  const inputs: JobLink[] = [];
  if (isUuid(spec.dataset_version)) inputs.push({ label: "Input data", node: <DatasetVersionLink id={spec.dataset_version} /> });
  if (isUuid(spec.base_dataset_version))
    inputs.push({ label: "Base data", node: <DatasetVersionLink id={spec.base_dataset_version} /> });
  if (isUuid(spec.model_version)) inputs.push({ label: "Input model", node: <ModelVersionLink id={spec.model_version} /> });
  if (isUuid(spec.base_version)) inputs.push({ label: "Base model", node: <ModelVersionLink id={spec.base_version} /> });
  if (isUuid(spec.model))
    inputs.push({
      label: "Model",
      node: (
        <AnchorLink to="/models/$modelId" params={{ modelId: spec.model }} search={partialSearch({})}>
          {typeof spec.model_name === "string" ? spec.model_name : shortId(spec.model)}
        </AnchorLink>
      ),
    });
  else if (typeof spec.model_name === "string") inputs.push({ label: "Model", node: <Text span size="sm">{spec.model_name}</Text> });
  const outputs: JobLink[] = [];
  if (isUuid(out.model_version)) outputs.push({ label: "Model version", node: <ModelVersionLink id={out.model_version} /> });
  if (isUuid(out.dataset_version)) outputs.push({ label: "Data set version", node: <DatasetVersionLink id={out.dataset_version} /> });
  for (const [k, v] of Object.entries(out)) {
    if (["model", "model_version", "dataset_version", "version"].includes(k)) continue;
    if (v === null || typeof v !== "object")
      outputs.push({ label: k.replace(/_/g, " "), node: <Text span size="sm">{String(v)}</Text> });
  }
  return { inputs, outputs };
}

/** The job's params as a two-column table (param path, value). */
export function ParamsTable({ params }: { params: Record<string, Scalar> }) {
  return <KeyValueTable rows={params} label="Params" keyHeader="Param" empty="No params." />;
}

/** Name-value pairs in name order, monospaced, in a striped table (params, package versions). */
export function KeyValueTable({
  rows,
  label,
  keyHeader,
  valueHeader = "Value",
  empty,
}: {
  rows: Record<string, Scalar>;
  label: string;
  keyHeader: string;
  valueHeader?: string;
  empty: string;
}) {
  const sorted = Object.entries(rows).sort(([a], [b]) => a.localeCompare(b));
  if (!sorted.length)
    return (
      <Text size="sm" c="dimmed">
        {empty}
      </Text>
    );
  return (
    <Table.ScrollContainer minWidth={360}>
      <Table striped withTableBorder fz="sm" aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">{keyHeader}</Table.Th>
            <Table.Th scope="col">{valueHeader}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {sorted.map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Td ff="monospace">{k}</Table.Td>
              <Table.Td ff="monospace">{v === null ? "null" : String(v)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** Metric summaries: last, min, max and the step of the best (following each metric's direction). */
export function SummaryTable({ summaries }: { summaries: Record<string, MetricSummary> }) {
  const rows = Object.entries(summaries).sort(([a], [b]) => a.localeCompare(b));
  if (!rows.length) return <Text size="sm" c="dimmed">No metrics recorded.</Text>;
  return (
    <Table.ScrollContainer minWidth={480}>
      <Table striped withTableBorder fz="sm" aria-label="Metric summaries">
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Metric</Table.Th>
            <Table.Th scope="col">Last</Table.Th>
            <Table.Th scope="col">Min</Table.Th>
            <Table.Th scope="col">Max</Table.Th>
            <Table.Th scope="col">Best step</Table.Th>
            <Table.Th scope="col">Points</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map(([key, s]) => {
            const dir = s.direction ?? defaultDirection(key);
            const best = dir === "min" ? s.min_step : s.max_step;
            return (
              <Table.Tr key={key}>
                <Table.Td ff="monospace">{key}</Table.Td>
                <Table.Td>
                  {formatValue(s.last)}
                  {s.last_step !== null && s.last_step !== undefined && (
                    <Text span size="xs" c="dimmed"> @{s.last_step}</Text>
                  )}
                </Table.Td>
                <Table.Td>{formatValue(s.min)}</Table.Td>
                <Table.Td>{formatValue(s.max)}</Table.Td>
                <Table.Td>
                  {best === null || best === undefined ? "–" : best}
                  <Text span size="xs" c="dimmed"> ({dir})</Text>
                </Table.Td>
                <Table.Td>{s.count ?? "–"}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
