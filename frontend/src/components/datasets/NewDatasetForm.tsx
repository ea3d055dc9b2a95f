/** The "New data set" form: POST /api/v1/datasets/ with the API's errors shown by their field. */
import { Alert, Button, Group, Select, Stack, TextInput, Textarea } from "@mantine/core";
import { useNavigate } from "@tanstack/react-router";
import { useState, type FormEvent } from "react";
import { ApiError, errorMessage, type Schemas } from "../../api/client";
import { DATASET_SEARCH, useCreateDataset } from "../../lib/datasetsQueries";

const TASKS: Schemas["TaskEnum"][] = ["classification", "regression", "text-classification", "image-classification"];
const SENSITIVITIES: Schemas["SensitivityEnum"][] = ["public", "internal", "restricted"];

export function NewDatasetForm({ team, onDone }: { team: string; onDone: () => void }) {
  const navigate = useNavigate();
  const create = useCreateDataset();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [task, setTask] = useState<string | null>("classification");
  const [sensitivity, setSensitivity] = useState<string | null>("internal");
  const [license, setLicense] = useState("");

  const fieldErrors = create.error instanceof ApiError ? create.error.fieldErrors : {};
  const err = (field: string) => fieldErrors[field]?.join(" ");
  const known = new Set(["name", "description", "task", "sensitivity", "license"]);
  const otherErrors = create.error && Object.keys(fieldErrors).every((k) => known.has(k)) && Object.keys(fieldErrors).length > 0 ? null : create.error;

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(
      {
        team,
        name,
        description,
        task: (task ?? "") as Schemas["TaskEnum"],
        sensitivity: (sensitivity ?? undefined) as Schemas["SensitivityEnum"] | undefined,
        license,
      },
      {
        onSuccess: (dataset) => {
          onDone();
          void navigate({ to: "/datasets/$datasetId", params: { datasetId: dataset.id }, search: DATASET_SEARCH });
        },
      },
    );
  }

  return (
    <form onSubmit={submit} noValidate aria-label="New data set">
      <Stack gap="sm">
        {otherErrors && (
          <Alert color="red" role="alert" title="The data set was not created">
            {errorMessage(otherErrors)}
          </Alert>
        )}
        <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} error={err("name")} data-autofocus />
        <Textarea label="Description" autosize minRows={2} value={description} onChange={(e) => setDescription(e.currentTarget.value)} error={err("description")} />
        <Select label="Task" required data={TASKS} value={task} onChange={setTask} error={err("task")} allowDeselect={false} />
        <Select label="Sensitivity" data={SENSITIVITIES} value={sensitivity} onChange={setSensitivity} error={err("sensitivity")} allowDeselect={false} />
        <TextInput label="License" placeholder="e.g. CC-BY-4.0" value={license} onChange={(e) => setLicense(e.currentTarget.value)} error={err("license")} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create data set
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
