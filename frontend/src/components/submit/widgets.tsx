/**
 * rjsf widgets that pick ids from the API instead of asking for a pasted uuid: a data set version (data set,
 * then version), a model version (model, then version), a model (by id), and a model name (free text with the
 * team's model names offered). Errors and the schema's description show on the input, as in @rjsf/mantine.
 */
import { Autocomplete, Select, SimpleGrid, Text, Title } from "@mantine/core";
import type { WidgetProps } from "@rjsf/utils";
import { useQuery } from "@tanstack/react-query";
import { createContext, useContext, useState } from "react";
import { api, unwrap } from "../../api/client";

/** The team whose objects the pickers offer (the form's team). */
export const PickerTeam = createContext<string>("");

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function describe(props: WidgetProps): string | undefined {
  const d = props.schema?.description;
  return typeof d === "string" ? d : undefined;
}

function errorOf(props: WidgetProps): string | undefined {
  return props.rawErrors?.length ? props.rawErrors.join("\n") : undefined;
}

function asValue(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function useDatasets(team: string) {
  return useQuery({
    queryKey: ["datasets", "picker", team],
    queryFn: () => unwrap(api.GET("/api/v1/datasets/", { params: { query: { team, page_size: 200 } } })),
    enabled: team !== "",
  });
}

function useModels(team: string) {
  return useQuery({
    queryKey: ["models", "picker", team],
    queryFn: () => unwrap(api.GET("/api/v1/models/", { params: { query: { team, page_size: 200 } } })),
    enabled: team !== "",
  });
}

export function DatasetVersionWidget(props: WidgetProps) {
  const team = useContext(PickerTeam);
  const value = asValue(props.value);
  const current = useQuery({
    queryKey: ["dataset-version", value],
    queryFn: () => unwrap(api.GET("/api/v1/dataset-versions/{id}/", { params: { path: { id: value! } } })),
    enabled: !!value && UUID.test(value),
    retry: false,
  });
  const [chosen, setChosen] = useState<string | null>(null);
  const dataset = chosen ?? current.data?.dataset ?? null;
  const datasets = useDatasets(team);
  const versions = useQuery({
    queryKey: ["dataset-versions", "picker", dataset],
    queryFn: () => unwrap(api.GET("/api/v1/datasets/{id}/versions/", { params: { path: { id: dataset! }, query: { page_size: 200 } } })),
    enabled: !!dataset,
  });
  const versionData = (versions.data?.results ?? []).map((v) => ({
    value: v.id,
    label: `v${v.version} · ${v.num_rows.toLocaleString()} rows${v.status === "ready" ? "" : ` · ${v.status}`}`,
  }));
  if (value && !versionData.some((o) => o.value === value)) versionData.unshift({ value, label: current.data ? `v${current.data.version}` : value });
  return (
    <ParentThenVersion
      props={props}
      noun="Dataset version"
      parentNoun="data set"
      parents={(datasets.data?.results ?? []).map((d) => ({ value: d.id, label: d.name }))}
      parentsPending={datasets.isPending}
      parent={dataset}
      onParent={setChosen}
      versions={versionData}
      versionsPending={versions.isPending}
    />
  );
}

export function ModelVersionWidget(props: WidgetProps) {
  const team = useContext(PickerTeam);
  const value = asValue(props.value);
  const current = useQuery({
    queryKey: ["model-version", value],
    queryFn: () => unwrap(api.GET("/api/v1/model-versions/{id}/", { params: { path: { id: value! } } })),
    enabled: !!value && UUID.test(value),
    retry: false,
  });
  const [chosen, setChosen] = useState<string | null>(null);
  const model = chosen ?? current.data?.model ?? null;
  const models = useModels(team);
  const versions = useQuery({
    queryKey: ["model-versions", "picker", model],
    queryFn: () => unwrap(api.GET("/api/v1/models/{id}/versions/", { params: { path: { id: model! }, query: { page_size: 200 } } })),
    enabled: !!model,
  });
  const versionData = (versions.data?.results ?? []).map((v) => ({
    value: v.id,
    label: `v${v.version}${v.aliases?.length ? ` (${v.aliases.join(", ")})` : ""}${v.status === "ready" ? "" : ` · ${v.status}`}`,
  }));
  if (value && !versionData.some((o) => o.value === value)) versionData.unshift({ value, label: current.data ? `v${current.data.version}` : value });
  return (
    <ParentThenVersion
      props={props}
      noun="Model version"
      parentNoun="model"
      parents={(models.data?.results ?? []).map((m) => ({ value: m.id, label: m.name }))}
      parentsPending={models.isPending}
      parent={model}
      onParent={setChosen}
      versions={versionData}
      versionsPending={versions.isPending}
    />
  );
}

/** Two selects: the data set (or model), then one of its versions; the widget's value is the version id. */
function ParentThenVersion({
  props,
  noun,
  parentNoun,
  parents,
  parentsPending,
  parent,
  onParent,
  versions,
  versionsPending,
}: {
  props: WidgetProps;
  noun: string;
  parentNoun: string;
  parents: { value: string; label: string }[];
  parentsPending: boolean;
  parent: string | null;
  onParent: (id: string | null) => void;
  versions: { value: string; label: string }[];
  versionsPending: boolean;
}) {
  const locked = props.disabled || props.readonly;
  const value = asValue(props.value);
  return (
    <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="sm" verticalSpacing="xs">
      <Select
        label={`${props.label || noun}: ${parentNoun}`}
        placeholder={parentsPending ? "Loading…" : `Pick a ${parentNoun}`}
        data={parents}
        value={parent}
        onChange={(id) => {
          onParent(id);
          props.onChange(undefined);
        }}
        searchable
        disabled={locked}
        comboboxProps={{ withinPortal: true }}
        nothingFoundMessage={`No ${parentNoun}`}
      />
      <Select
        id={props.id}
        label={props.label || noun}
        placeholder={parent ? (versionsPending ? "Loading…" : "Pick a version") : `Pick a ${parentNoun} first`}
        data={versions}
        value={value}
        onChange={(v) => props.onChange(v ?? undefined)}
        required={props.required}
        disabled={locked}
        error={errorOf(props)}
        comboboxProps={{ withinPortal: true }}
        nothingFoundMessage="No version"
      />
      {describe(props) && (
        <Text size="xs" c="dimmed" style={{ gridColumn: "1 / -1" }}>
          {describe(props)}
        </Text>
      )}
    </SimpleGrid>
  );
}

export function ModelIdWidget(props: WidgetProps) {
  const team = useContext(PickerTeam);
  const models = useModels(team);
  const value = asValue(props.value);
  const data = (models.data?.results ?? []).map((m) => ({ value: m.id, label: m.name }));
  if (value && !data.some((o) => o.value === value)) data.unshift({ value, label: value });
  return (
    <Select
      id={props.id}
      label={props.label || "Model"}
      description={describe(props)}
      placeholder={models.isPending ? "Loading…" : "Pick a model"}
      data={data}
      value={value}
      onChange={(v) => props.onChange(v ?? undefined)}
      required={props.required}
      disabled={props.disabled || props.readonly}
      error={errorOf(props)}
      searchable
      comboboxProps={{ withinPortal: true }}
      nothingFoundMessage="No model"
    />
  );
}

export function ModelNameWidget(props: WidgetProps) {
  const team = useContext(PickerTeam);
  const models = useModels(team);
  const names = [...new Set((models.data?.results ?? []).map((m) => m.name))];
  return (
    <Autocomplete
      id={props.id}
      label={props.label || "Model"}
      description={describe(props)}
      placeholder="A new name, or one of the team's models"
      data={names}
      value={typeof props.value === "string" ? props.value : ""}
      onChange={(v) => props.onChange(v === "" ? undefined : v)}
      required={props.required}
      disabled={props.disabled || props.readonly}
      error={errorOf(props)}
      comboboxProps={{ withinPortal: true }}
    />
  );
}

export const PICKER_WIDGETS = {
  datasetVersion: DatasetVersionWidget,
  modelVersion: ModelVersionWidget,
  modelId: ModelIdWidget,
  modelName: ModelNameWidget,
};

/** Field-group titles (hyperparameters, split…) one level below the form's section headings. */
export function SpecTitle({ id, title }: { id: string; title: string }) {
  return title ? (
    <Title id={id} order={4} fw={600} mt="xs">
      {title}
    </Title>
  ) : null;
}
