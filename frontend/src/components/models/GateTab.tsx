/** The promotion gate: what it checks, and (maintainer+) editing or removing it. */
import { Alert, Button, Group, NumberInput, Paper, Select, SimpleGrid, Stack, Table, TagsInput, Text } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, ApiError, errorMessage, unwrap, type Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { Empty } from "../states";
import { AliasBadges } from "./AliasBadges";
import { DatasetLink, ModelPageButton } from "./links";
import { modelKeys, useDatasetVersion } from "./queries";
import { formatDateTime } from "../../lib/overviewFormat";

type Gate = Schemas["Gate"];
type Model = Schemas["RegisteredModel"];

const CLASSIFICATION = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "log_loss"];
const REGRESSION = ["r2", "mae", "rmse"];
const SPLITS: Schemas["SplitEnum"][] = ["all", "test", "validation", "train"];

function PinnedSet({ id }: { id: string }) {
  const dv = useDatasetVersion(id);
  if (!dv.data) return <Text span>{id.slice(0, 8)}</Text>;
  return (
    <DatasetLink datasetId={dv.data.dataset} version={id}>
      {dv.data.dataset_name} v{dv.data.version}
    </DatasetLink>
  );
}

export function GateSummary({ gate }: { gate: Gate }) {
  const rows: [string, React.ReactNode][] = [
    ["Pinned data set version", <PinnedSet key="p" id={gate.dataset_version} />],
    ["Split", gate.split],
    ["Metric", gate.metric || "the task's headline metric"],
    ["Direction", gate.direction || "the metric's usual one"],
    ["Minimum gain", String(gate.min_gain)],
    [
      "Allowed overlap with training data",
      `${gate.max_overlap ?? 0} ${(gate.max_overlap ?? 0) === 1 ? "row" : "rows"} of the pinned set (compared by content)`,
    ],
    ["Required card sections", gate.required_card_fields?.length ? gate.required_card_fields.join(", ") : "none"],
    ["Protected aliases", <AliasBadges key="a" aliases={gate.aliases ?? []} />],
    ["Updated", `${formatDateTime(gate.updated_at)}${gate.updated_by ? ` by ${gate.updated_by}` : ""}`],
  ];
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table verticalSpacing={6} withRowBorders>
        <Table.Tbody>
          {rows.map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Th scope="row" w={220}>
                {k}
              </Table.Th>
              <Table.Td>{v}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function GateForm({ model, gate, onDone }: { model: Model; gate: Gate | null; onDone: () => void }) {
  const client = useQueryClient();
  const pinned = useDatasetVersion(gate?.dataset_version);
  const [dataset, setDataset] = useState<string | null>(null);
  const [datasetVersion, setDatasetVersion] = useState<string | null>(gate?.dataset_version ?? null);
  const [metric, setMetric] = useState(gate?.metric ?? "");
  const [direction, setDirection] = useState<string>(gate?.direction ?? "");
  const [split, setSplit] = useState<Schemas["SplitEnum"]>(gate?.split ?? "all");
  const [minGain, setMinGain] = useState<number>(gate?.min_gain ?? 0);
  const [maxOverlap, setMaxOverlap] = useState<number>(gate?.max_overlap ?? 0);
  const [fields, setFields] = useState<string[]>(gate?.required_card_fields ?? []);
  const [aliases, setAliases] = useState<string[]>(gate?.aliases ?? ["production"]);
  const chosenDataset = dataset ?? pinned.data?.dataset ?? null;

  const datasets = useQuery({
    queryKey: ["datasets", "list", model.team, "all"],
    queryFn: () => unwrap(api.GET("/api/v1/datasets/", { params: { query: { team: model.team, page_size: 100 } } })),
  });
  const versions = useQuery({
    queryKey: ["datasets", chosenDataset, "versions"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/datasets/{id}/versions/", { params: { path: { id: chosenDataset! }, query: { page_size: 100 } } })),
    enabled: !!chosenDataset,
  });
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/api/v1/models/{id}/gate/", {
          params: { path: { id: model.id } },
          body: {
            dataset_version: datasetVersion ?? "",
            metric,
            direction: direction as Gate["direction"],
            split,
            min_gain: minGain,
            max_overlap: maxOverlap,
            required_card_fields: fields,
            aliases,
          },
        }),
      ),
    onSuccess: (g) => {
      client.setQueryData(modelKeys.gate(model.id), g);
      onDone();
    },
  });
  const errors = save.error instanceof ApiError ? save.error.fieldErrors : {};
  const err = (k: string) => errors[k]?.join(" ");
  const metrics = model.task === "regression" ? REGRESSION : CLASSIFICATION;

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <Stack>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <Select
            label="Data set"
            placeholder={datasets.isPending ? "Loading…" : "Choose a data set"}
            data={(datasets.data?.results ?? []).map((d) => ({ value: d.id, label: d.name }))}
            value={chosenDataset}
            onChange={(v) => {
              setDataset(v);
              setDatasetVersion(null);
            }}
            searchable
          />
          <Select
            label="Pinned data set version"
            description="The evaluation set both versions are compared on"
            placeholder={chosenDataset ? "Choose a version" : "Choose a data set first"}
            data={(versions.data?.results ?? []).map((v) => ({ value: v.id, label: `v${v.version} · ${v.num_rows} rows` }))}
            value={datasetVersion}
            onChange={setDatasetVersion}
            disabled={!chosenDataset}
            error={err("dataset_version")}
            required
          />
          <Select
            label="Metric"
            data={[{ value: "", label: "Headline metric of the task" }, ...metrics.map((m) => ({ value: m, label: m }))]}
            value={metric}
            onChange={(v) => setMetric(v ?? "")}
            allowDeselect={false}
            error={err("metric")}
          />
          <Select
            label="Direction"
            data={[
              { value: "", label: "The metric's usual direction" },
              { value: "maximize", label: "maximize" },
              { value: "minimize", label: "minimize" },
            ]}
            value={direction}
            onChange={(v) => setDirection(v ?? "")}
            allowDeselect={false}
            error={err("direction")}
          />
          <Select
            label="Split"
            data={SPLITS}
            value={split}
            onChange={(v) => v && setSplit(v as Schemas["SplitEnum"])}
            allowDeselect={false}
            error={err("split")}
          />
          <NumberInput
            label="Minimum gain"
            description="How much better than the incumbent the candidate must be"
            value={minGain}
            onChange={(v) => setMinGain(typeof v === "number" ? v : Number(v) || 0)}
            step={0.001}
            decimalScale={6}
            error={err("min_gain")}
          />
          <NumberInput
            label="Allowed overlap (rows)"
            description="Rows of the pinned set a candidate's training data may share, compared by content"
            value={maxOverlap}
            onChange={(v) => setMaxOverlap(typeof v === "number" ? v : Number(v) || 0)}
            min={0}
            step={1}
            allowDecimal={false}
            allowNegative={false}
            error={err("max_overlap")}
          />
          <TagsInput
            label="Required card sections"
            description="Headings the model card must have, with text under them"
            value={fields}
            onChange={setFields}
            error={err("required_card_fields")}
          />
          <TagsInput label="Protected aliases" value={aliases} onChange={setAliases} error={err("aliases")} />
        </SimpleGrid>
        {save.isError && Object.keys(errors).length === 0 && (
          <Alert color="red" role="alert" title="The gate was not saved">
            {errorMessage(save.error)}
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={save.isPending} disabled={!datasetVersion}>
            Save gate
          </Button>
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function GateTab({ model, gate }: { model: Model; gate: Gate | null }) {
  const canEdit = useCan("maintainer");
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/models/{id}/gate/", { params: { path: { id: model.id } } })),
    onSuccess: () => client.setQueryData(modelKeys.gate(model.id), null),
  });
  if (!model.task)
    return (
      <Empty title="No gate yet">
        This model was registered through MLflow and has no task yet, so no metric can gate it. Its first served
        version (an ONNX model logged with a signature) gives it one.
      </Empty>
    );
  if (editing) return <GateForm model={model} gate={gate} onDone={() => setEditing(false)} />;
  return (
    <Stack>
      {gate ? (
        <Paper withBorder p="md">
          <GateSummary gate={gate} />
        </Paper>
      ) : (
        <Empty title="No gate">
          Without a gate any member may move any alias. A gate pins an evaluation set and lets an alias move only to a
          version that does at least as well as the one holding it.
        </Empty>
      )}
      <Group>
        {canEdit && (
          <Button variant="default" onClick={() => setEditing(true)}>
            {gate ? "Edit gate" : "Set up a gate"}
          </Button>
        )}
        {canEdit && gate && (
          <Button variant="subtle" color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
            Remove gate
          </Button>
        )}
        {gate && (
          <ModelPageButton modelId={model.id} page="promote" alias={gate.aliases?.[0]} variant="light">
            Promote through the gate
          </ModelPageButton>
        )}
      </Group>
      {!canEdit && (
        <Text size="sm" c="dimmed">
          Changing the gate needs the maintainer role.
        </Text>
      )}
      {remove.isError && <Alert color="red" role="alert">{errorMessage(remove.error)}</Alert>}
    </Stack>
  );
}
