/** Models: the team's registered models with search, task, latest version and aliases; "New model" for members. */
import { Badge, Button, Code, Group, Modal, SegmentedControl, Select, Stack, Table, Text, TextInput, Textarea, Title } from "@mantine/core";
import { useDebouncedCallback, useDisclosure } from "@mantine/hooks";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { useState } from "react";
import { api, ApiError, errorMessage, unwrap, type Schemas } from "../api/client";
import { useCan, useTeam } from "../auth";
import { AliasBadges } from "../components/models/AliasBadges";
import { ModelLink } from "../components/models/links";
import { modelKeys, useModels } from "../components/models/queries";
import { Empty, QueryState } from "../components/states";
import { formatDateTime } from "../lib/overviewFormat";

const route = getRouteApi("/models");

const TASKS: Schemas["TaskEnum"][] = ["classification", "regression", "text-classification", "image-classification"];

function NewModel({ team, onClose }: { team: string; onClose: () => void }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [task, setTask] = useState<Schemas["TaskEnum"]>("classification");
  const [description, setDescription] = useState("");
  const create = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/models/", { body: { team, name, task, description } })),
    onSuccess: async (model) => {
      await client.invalidateQueries({ queryKey: modelKeys.all });
      onClose();
      void navigate({ to: "/models/$modelId", params: { modelId: model.id }, search: { tab: "versions", version: undefined, evaluation: undefined } });
    },
  });
  const fieldErrors = create.error instanceof ApiError ? create.error.fieldErrors : {};
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <Stack>
        <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldErrors.name?.join(" ")} data-autofocus />
        <Select
          label="Task"
          data={TASKS}
          value={task}
          onChange={(v) => v && setTask(v as Schemas["TaskEnum"])}
          allowDeselect={false}
          error={fieldErrors.task?.join(" ")}
        />
        <Textarea label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} />
        {create.isError && Object.keys(fieldErrors).length === 0 && (
          <Text c="red" size="sm" role="alert">
            {errorMessage(create.error)}
          </Text>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create model
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export default function ModelsPage() {
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/models" });
  const { team } = useTeam();
  const canCreate = useCan("member");
  const [opened, { open, close }] = useDisclosure(false);
  const [text, setText] = useState(search.q ?? "");
  const setQuery = useDebouncedCallback((q: string) => void navigate({ search: (s) => ({ ...s, q: q || undefined }), replace: true }), 250);
  const models = useModels(team?.slug, search.q, search.format);

  return (
    <Stack>
      <Group justify="space-between" align="flex-end">
        <Title order={2}>Models</Title>
        {canCreate && team && <Button onClick={open}>New model</Button>}
      </Group>
      <TextInput
        label="Search models"
        placeholder="Part of the name"
        value={text}
        onChange={(e) => {
          setText(e.currentTarget.value);
          setQuery(e.currentTarget.value);
        }}
        maw={360}
        type="search"
      />
      <SegmentedControl
        aria-label="Which models"
        data={[
          { value: "all", label: "All models" },
          { value: "hf", label: "Hugging Face checkpoints" },
        ]}
        value={search.format ?? "all"}
        onChange={(v) => void navigate({ search: (s) => ({ ...s, format: v === "hf" ? "hf" : undefined }), replace: true })}
        w="fit-content"
      />
      <QueryState query={models} loading="Loading models…">
        {(page) =>
          page.results.length === 0 ? (
            <Empty title={search.q || search.format ? "No model matches" : "No models yet"}>
              {search.format && !search.q
                ? <>Import a base model with <Code>eco models import DIR</Code> (or POST its files to <Code>/api/v1/models/{"{id}"}/versions/import/</Code>).</>
                : search.q
                ? "Try another part of the name."
                : "A train job registers its model when it succeeds; or create one here and register versions through the API."}
            </Empty>
          ) : (
            <Table.ScrollContainer minWidth={720}>
              <Table striped highlightOnHover verticalSpacing="xs">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Task</Table.Th>
                    <Table.Th>Formats</Table.Th>
                    <Table.Th>Latest version</Table.Th>
                    <Table.Th>Versions</Table.Th>
                    <Table.Th>Aliases</Table.Th>
                    <Table.Th>Updated</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {page.results.map((m) => (
                    <Table.Tr key={m.id}>
                      <Table.Td>
                        <ModelLink modelId={m.id} fw={600}>
                          {m.name}
                        </ModelLink>
                        {m.description && (
                          <Text size="xs" c="dimmed" lineClamp={1} maw={320}>
                            {m.description}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light" color="gray">
                          {m.task || "no task (MLflow)"}
                        </Badge>
                      </Table.Td>
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          {m.formats.length === 0 && "—"}
                          {m.formats.map((f) => (
                            <Badge key={f} variant="outline" color={f === "hf" ? "yellow" : "gray"} tt="none" c="var(--mantine-color-text)">
                              {f}
                            </Badge>
                          ))}
                        </Group>
                      </Table.Td>
                      <Table.Td>{m.latest_version === null ? "—" : `v${m.latest_version}`}</Table.Td>
                      <Table.Td>{m.num_versions}</Table.Td>
                      <Table.Td>
                        <AliasBadges aliases={Object.keys(m.aliases)} />
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm" style={{ whiteSpace: "nowrap" }}>
                          {formatDateTime(m.updated_at)}
                        </Text>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
              {page.count > page.results.length && (
                <Text size="sm" c="dimmed" mt="xs">
                  Showing {page.results.length} of {page.count}; search to narrow the list.
                </Text>
              )}
            </Table.ScrollContainer>
          )
        }
      </QueryState>
      <Modal opened={opened} onClose={close} title="New model">
        {team && <NewModel team={team.slug} onClose={close} />}
      </Modal>
    </Stack>
  );
}
