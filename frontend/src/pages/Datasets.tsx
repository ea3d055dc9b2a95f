/** Data sets: the current team's data sets, searched on the server (?q=), paginated (?page=), and a form for a new one. */
import { Anchor, Badge, Button, Group, Modal, Pagination, Stack, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedCallback } from "@mantine/hooks";
import { createColumnHelper } from "@tanstack/react-table";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { useEffect, useMemo, useState } from "react";
import type { Schemas } from "../api/client";
import { useCan, useTeam } from "../auth";
import { DataTable } from "../components/datasets/DataTable";
import { NewDatasetForm } from "../components/datasets/NewDatasetForm";
import { Empty, ErrorState, Loading } from "../components/states";
import { SENSITIVITY_COLOR } from "../lib/datasets";
import { DATASET_SEARCH, PAGE_SIZE, useDatasets } from "../lib/datasetsQueries";

const route = getRouteApi("/datasets");
const column = createColumnHelper<Schemas["Dataset"]>();

function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export default function DatasetsPage() {
  const { q, page = 1 } = route.useSearch();
  const navigate = useNavigate({ from: "/datasets" });
  const { team } = useTeam();
  const canWrite = useCan("member");
  const [creating, setCreating] = useState(false);
  const [text, setText] = useState(q ?? "");
  useEffect(() => setText(q ?? ""), [q]);
  const search = useDebouncedCallback((value: string) => {
    void navigate({ search: (s) => ({ ...s, q: value.trim() || undefined, page: undefined }), replace: true });
  }, 300);

  const query = useDatasets(team?.slug, q, page);

  const columns = useMemo(
    () => [
      column.accessor("name", {
        header: "Name",
        cell: (c) => (
          <Anchor
            fw={600}
            renderRoot={(props) => <Link {...props} to="/datasets/$datasetId" params={{ datasetId: c.row.original.id }} search={DATASET_SEARCH} />}
          >
            {c.getValue()}
          </Anchor>
        ),
      }),
      column.accessor("task", { header: "Task" }),
      column.accessor("sensitivity", {
        header: "Sensitivity",
        cell: (c) => (
          <Badge variant="light" color={SENSITIVITY_COLOR[c.getValue() ?? ""] ?? "gray"}>
            {c.getValue() ?? "—"}
          </Badge>
        ),
      }),
      column.accessor("num_versions", { header: "Versions" }),
      column.accessor("latest_version", { header: "Latest", cell: (c) => (c.getValue() ? `v${c.getValue()}` : "—") }),
      column.accessor("updated_at", { header: "Updated", cell: (c) => <span style={{ whiteSpace: "nowrap" }}>{when(c.getValue())}</span> }),
    ],
    [],
  );

  const pages = query.data ? Math.max(1, Math.ceil(query.data.count / PAGE_SIZE)) : 1;

  return (
    <Stack gap="md">
      <Group justify="space-between" align="flex-end">
        <Title order={2}>Data sets</Title>
        {canWrite && <Button onClick={() => setCreating(true)}>New data set</Button>}
      </Group>
      <TextInput
        label="Search data sets"
        placeholder="Name or description"
        type="search"
        value={text}
        onChange={(e) => {
          setText(e.currentTarget.value);
          search(e.currentTarget.value);
        }}
        maw={420}
      />
      {query.isPending ? (
        <Loading label="Loading data sets…" />
      ) : query.isError ? (
        <ErrorState error={query.error} title="The data sets could not be loaded" />
      ) : query.data.results.length === 0 ? (
        <Empty title={q ? `No data set matches “${q}”` : "No data sets yet"}>
          {q ? "Try another search." : canWrite ? "Create one with “New data set”, then upload a file or import a built-in set." : "A member of the team can create one."}
        </Empty>
      ) : (
        <>
          <DataTable data={query.data.results} columns={columns} minWidth={760} getRowId={(d) => d.id} label="Data sets" />
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              {query.data.count.toLocaleString("en-US")} data set{query.data.count === 1 ? "" : "s"}
            </Text>
            {pages > 1 && (
              <Pagination
                total={pages}
                value={Math.min(page, pages)}
                onChange={(p) => void navigate({ search: (s) => ({ ...s, page: p === 1 ? undefined : p }) })}
                getControlProps={(control) => ({ "aria-label": `${control} page` })}
                getItemProps={(p) => ({ "aria-label": `Page ${p}` })}
              />
            )}
          </Group>
        </>
      )}
      <Modal opened={creating} onClose={() => setCreating(false)} title="New data set" size="lg" closeButtonProps={{ "aria-label": "Close" }}>
        {team && <NewDatasetForm team={team.slug} onDone={() => setCreating(false)} />}
      </Modal>
    </Stack>
  );
}
