/**
 * The process-job builder (member+): an ordered list of steps (add, remove, reorder) for the ops the `process`
 * kind's JSON Schema allows, each with the fields that op takes; submits POST /api/v1/jobs/
 * {team, kind: "process", spec: {dataset_version, steps}} and shows the API's errors by their field.
 */
import {
  ActionIcon,
  Alert,
  Anchor,
  Badge,
  Button,
  Card,
  Checkbox,
  Group,
  MultiSelect,
  NumberInput,
  Select,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Textarea,
} from "@mantine/core";
import { Link } from "@tanstack/react-router";
import { useMemo, useState, type FormEvent } from "react";
import { ApiError, errorMessage, type Schemas } from "../../api/client";
import { schemaColumns } from "../../lib/datasets";
import {
  buildSteps,
  labelOf,
  moveStep,
  newStep,
  processOps,
  stepErrorTarget,
  type OpField,
  type OpSpec,
  type StepDraft,
} from "../../lib/datasetsProcess";
import { useProcessKind, useSubmitProcess } from "../../lib/datasetsQueries";
import { ErrorState, Loading } from "../states";

type Version = Schemas["DatasetVersion"];

const OP_HELP: Record<string, string> = {
  dropna: "Drop rows with a missing value (in the chosen columns, or any).",
  dedupe: "Drop repeated rows (judged on the chosen columns, or all).",
  standardize: "Scale numeric columns to mean 0, standard deviation 1.",
  filter: "Keep the rows where the condition holds.",
  map_labels: "Rename label values (old=new, one per line or comma-separated).",
  sample: "Keep a random sample of n rows or a fraction.",
  fillna: "Fill missing values with a value or a computed strategy.",
  cast: "Change the type of columns.",
};

function FieldInput({
  field,
  value,
  onChange,
  columns,
  error,
  stepNumber,
}: {
  field: OpField;
  value: unknown;
  onChange: (v: unknown) => void;
  columns: string[];
  error: string | undefined;
  stepNumber: number;
}) {
  const label = labelOf(field.name);
  const common = {
    label,
    error,
    required: field.required,
    description: field.description,
    "aria-label": `Step ${stepNumber} ${label}`,
  };
  switch (field.kind) {
    case "columns":
      return (
        <MultiSelect
          {...common}
          data={columns}
          value={(value as string[]) ?? []}
          onChange={onChange}
          placeholder={field.required ? "Choose columns" : "All columns"}
          searchable
          clearable
        />
      );
    case "column":
      return (
        <Select
          {...common}
          data={columns}
          value={(value as string | null) ?? null}
          onChange={onChange}
          placeholder={field.description?.startsWith("Default") ? field.description : "Choose a column"}
          searchable
          clearable
        />
      );
    case "enum":
      return (
        <Select
          {...common}
          data={(field.options ?? []).filter((o): o is string => o !== null)}
          value={(value as string | null) ?? null}
          onChange={onChange}
          placeholder={field.options?.includes(null) ? "None" : "Choose"}
          clearable={!field.required}
        />
      );
    case "integer":
    case "number":
      return (
        <NumberInput
          {...common}
          value={value as number | string}
          onChange={onChange}
          min={field.min}
          max={field.max}
          allowDecimal={field.kind === "number"}
          step={field.kind === "number" && field.max !== undefined && field.max <= 1 ? 0.05 : 1}
        />
      );
    case "boolean":
      return <Checkbox label={label} aria-label={common["aria-label"]} description={field.description} checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} error={error} mt="lg" />;
    case "mapping":
      return <Textarea {...common} value={String(value ?? "")} onChange={(e) => onChange(e.currentTarget.value)} autosize minRows={2} placeholder={"old=new\ncat=0"} />;
    default:
      return (
        <TextInput
          {...common}
          value={String(value ?? "")}
          onChange={(e) => onChange(e.currentTarget.value)}
          placeholder="40, Oslo, true, or a comma list for in / not_in"
        />
      );
  }
}

function StepCard({
  step,
  index,
  count,
  op,
  columns,
  errors,
  onChange,
  onMove,
  onRemove,
}: {
  step: StepDraft;
  index: number;
  count: number;
  op: OpSpec | undefined;
  columns: string[];
  errors: Record<string, string>;
  onChange: (values: Record<string, unknown>) => void;
  onMove: (delta: number) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const stepError = errors[`spec.steps[${index}]`] ?? errors[`spec.steps[${index}].op`];
  return (
    <Card withBorder padding="sm" component="li" aria-label={`Step ${n}: ${step.op}`}>
      <Stack gap="xs">
        <Group justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Badge variant="filled" color="gray" circle>
              {n}
            </Badge>
            <Text fw={600} ff="monospace">
              {step.op}
            </Text>
          </Group>
          <Group gap={4} wrap="nowrap">
            <ActionIcon variant="default" aria-label={`Move step ${n} up`} disabled={index === 0} onClick={() => onMove(-1)}>
              <span aria-hidden>↑</span>
            </ActionIcon>
            <ActionIcon variant="default" aria-label={`Move step ${n} down`} disabled={index === count - 1} onClick={() => onMove(1)}>
              <span aria-hidden>↓</span>
            </ActionIcon>
            <ActionIcon variant="default" color="red" aria-label={`Remove step ${n}`} onClick={onRemove}>
              <span aria-hidden>✕</span>
            </ActionIcon>
          </Group>
        </Group>
        {OP_HELP[step.op] && (
          <Text size="xs" c="dimmed">
            {OP_HELP[step.op]}
          </Text>
        )}
        {stepError && (
          <Text size="sm" c="red" role="alert">
            {stepError}
          </Text>
        )}
        {op && op.fields.length > 0 && (
          <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} spacing="sm">
            {op.fields.map((field) => (
              <FieldInput
                key={field.name}
                field={field}
                value={step.values[field.name]}
                columns={columns}
                stepNumber={n}
                error={errors[`spec.steps[${index}].${field.name}`]}
                onChange={(v) => onChange({ ...step.values, [field.name]: v })}
              />
            ))}
          </SimpleGrid>
        )}
      </Stack>
    </Card>
  );
}

export function ProcessBuilder({ version, team }: { version: Version; team: string }) {
  const kind = useProcessKind();
  const submit = useSubmitProcess();
  const ops = useMemo(() => processOps(kind.data?.spec_schema), [kind.data]);
  const columns = useMemo(() => schemaColumns(version.schema).map((c) => c.name), [version.schema]);
  const [steps, setSteps] = useState<StepDraft[]>([]);
  const [adding, setAdding] = useState<string | null>(null);
  const [description, setDescription] = useState("");
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});

  const apiErrors: Record<string, string> = {};
  if (submit.error instanceof ApiError) {
    for (const [key, messages] of Object.entries(submit.error.fieldErrors)) apiErrors[key.startsWith("spec.") ? key : `spec.${key}`] = messages.join(" ");
  }
  const errors = { ...apiErrors, ...localErrors };
  const placed = new Set(
    Object.keys(errors).filter((k) => {
      const t = stepErrorTarget(k);
      return t !== null && t.index < steps.length;
    }),
  );
  const unplaced = Object.entries(errors).filter(([k]) => !placed.has(k));

  if (kind.isPending) return <Loading label="Loading the process job's schema…" />;
  if (kind.isError) return <ErrorState error={kind.error} title="The process job kind could not be loaded" />;

  function add() {
    const op = ops.find((o) => o.op === adding);
    if (!op) return;
    setSteps((s) => [...s, newStep(op)]);
    submit.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const built = buildSteps(steps, ops);
    if (steps.length === 0) built.errors["spec.steps"] = "Add at least one step.";
    setLocalErrors(built.errors);
    if (Object.keys(built.errors).length > 0) return;
    submit.mutate({
      team,
      kind: "process",
      priority: 0,
      max_retries: 0,
      spec: { dataset_version: version.id, steps: built.steps, ...(description.trim() ? { description: description.trim() } : {}) },
    });
  }

  const changed = () => {
    setLocalErrors({});
    if (submit.isError) submit.reset();
  };

  return (
    <form onSubmit={onSubmit} noValidate aria-label="Process job">
      <Stack gap="md">
        <Text size="sm" c="dimmed">
          Builds a new version of {version.dataset_name} from v{version.version} by running these steps in order. {kind.data.description}
        </Text>
        {steps.length === 0 ? (
          <Text size="sm" c="dimmed">
            No steps yet. Add one below.
          </Text>
        ) : (
          <Stack component="ol" gap="sm" p={0} m={0} style={{ listStyle: "none" }} aria-label="Steps">
            {steps.map((step, i) => (
              <StepCard
                key={step.key}
                step={step}
                index={i}
                count={steps.length}
                op={ops.find((o) => o.op === step.op)}
                columns={columns}
                errors={errors}
                onChange={(values) => {
                  changed();
                  setSteps((s) => s.map((x) => (x.key === step.key ? { ...x, values } : x)));
                }}
                onMove={(delta) => {
                  changed();
                  setSteps((s) => moveStep(s, i, delta));
                }}
                onRemove={() => {
                  changed();
                  setSteps((s) => s.filter((x) => x.key !== step.key));
                }}
              />
            ))}
          </Stack>
        )}
        <Group align="flex-end" gap="sm">
          <Select
            label="Step to add"
            data={ops.map((o) => ({ value: o.op, label: o.op }))}
            value={adding}
            onChange={setAdding}
            placeholder="Choose an operation"
            w={{ base: "100%", xs: 240 }}
          />
          <Button variant="light" onClick={add} disabled={!adding}>
            Add step
          </Button>
        </Group>
        <TextInput label="Description of the new version" value={description} onChange={(e) => setDescription(e.currentTarget.value)} maw={520} />
        {unplaced.length > 0 && (
          <Alert color="red" role="alert" title="The job was not submitted">
            {unplaced.map(([k, m]) => (
              <div key={k}>
                {k === "spec.detail" ? m : `${k.replace(/^spec\./, "")}: ${m}`}
              </div>
            ))}
          </Alert>
        )}
        {submit.isError && !(submit.error instanceof ApiError && Object.keys(submit.error.fieldErrors).length > 0) && (
          <Alert color="red" role="alert" title="The job was not submitted">
            {errorMessage(submit.error)}
          </Alert>
        )}
        {submit.isSuccess && (
          <Alert color="green" title="Process job submitted" role="status">
            Job{" "}
            <Anchor renderRoot={(props) => <Link {...props} to="/jobs/$jobId" params={{ jobId: submit.data.id }} />}>{submit.data.id.slice(0, 8)}</Anchor>{" "}
            is {submit.data.status}. Its result will appear as a new version of this data set.
          </Alert>
        )}
        <Group justify="flex-end">
          <Button type="submit" loading={submit.isPending} disabled={steps.length === 0}>
            Submit process job
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
