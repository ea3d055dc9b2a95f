/**
 * A data set: header (name, task, description, sensitivity, license), a version picker (?version=), and tabs
 * (?tab=): versions (+ upload / built-in import for members), schema with per-column statistics, a paginated
 * preview (?offset=), a diff against another version (?other=), the lineage graph, and the process-job builder.
 * The selected version's download is the spreadsheet-safe CSV export (the original file for images). A restricted
 * data set's rows (statistics, preview, download) are for maintainers and admins: others see a plain message.
 */
import { Alert, Anchor, Badge, Button, Group, Select, Stack, Tabs, Text, Title } from "@mantine/core";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { useCallback, type ReactNode } from "react";
import type { Schemas } from "../api/client";
import { useCan, useTeam } from "../auth";
import { DiffTab } from "../components/datasets/DiffTab";
import { LineageTab } from "../components/datasets/LineageTab";
import { PreviewTab } from "../components/datasets/PreviewTab";
import { ProcessBuilder } from "../components/datasets/ProcessBuilder";
import { SchemaTab } from "../components/datasets/SchemaTab";
import { UploadPanel } from "../components/datasets/UploadPanel";
import { VersionsTable } from "../components/datasets/VersionsTable";
import { Empty, ErrorState, Loading } from "../components/states";
import { formatBytes, rowsReadable, SENSITIVITY_COLOR, versionDownload } from "../lib/datasets";
import { useDataset, useVersions } from "../lib/datasetsQueries";
import { DATASET_TABS } from "../router";

const route = getRouteApi("/datasets/$datasetId");
type Tab = (typeof DATASET_TABS)[number];
type Version = Schemas["DatasetVersion"];

const TAB_LABELS: Record<Tab, string> = {
  versions: "Versions",
  schema: "Schema",
  preview: "Preview",
  diff: "Diff",
  lineage: "Lineage",
  process: "Process",
};

export default function DatasetPage() {
  const { datasetId } = route.useParams();
  const { tab, version, other, offset } = route.useSearch();
  const navigate = useNavigate({ from: "/datasets/$datasetId" });
  const canWrite = useCan("member");
  const dataset = useDataset(datasetId);
  const versions = useVersions(datasetId);
  const canWriteHere = useCan("member", dataset.data?.team);
  const maintainerHere = useCan("maintainer", dataset.data?.team);
  const { team } = useTeam();
  const member = dataset.data ? canWriteHere : canWrite;

  const setSearch = useCallback(
    (patch: Partial<{ tab: Tab; version: number | undefined; other: number | undefined; offset: number | undefined }>, replace = false) =>
      void navigate({ search: (s) => ({ ...s, ...patch }), replace }),
    [navigate],
  );
  const selectVersion = useCallback((v: number) => setSearch({ version: v, offset: undefined, other: undefined }), [setSearch]);
  const onCreated = useCallback((v: Version) => setSearch({ version: v.version, offset: undefined, other: undefined }), [setSearch]);

  if (dataset.isPending) return <Loading label="Loading the data set…" />;
  if (dataset.isError)
    return (
      <Stack>
        <Title order={2}>Data set</Title>
        <ErrorState error={dataset.error} title="The data set could not be loaded" />
        <Anchor renderRoot={(props) => <Link {...props} to="/datasets" search={{ q: undefined, page: undefined }} />}>Back to the data sets</Anchor>
      </Stack>
    );

  const d = dataset.data;
  const list = versions.data?.results ?? [];
  const selected = list.find((v) => v.version === version) ?? list[0];
  const tabs = DATASET_TABS.filter((t) => t !== "process" || member);
  const current: Tab = tabs.includes(tab) ? tab : "versions";
  const readable = rowsReadable(d.sensitivity, maintainerHere);
  const download = selected ? versionDownload(selected) : undefined;

  const restricted = (what: string) => (
    <Alert color="gray" title="Restricted data set">
      This data set is restricted: its {what} are for the maintainers and admins of team {d.team}.
    </Alert>
  );

  const needVersion = (render: (v: Version) => ReactNode) =>
    versions.isPending ? (
      <Loading label="Loading versions…" />
    ) : versions.isError ? (
      <ErrorState error={versions.error} title="The versions could not be loaded" />
    ) : !selected ? (
      <Empty title="No versions yet">{member ? "Upload a file or import a built-in set on the Versions tab." : "A member of the team can add one."}</Empty>
    ) : (
      render(selected)
    );

  return (
    <Stack gap="md">
      <Stack gap={6}>
        <Anchor size="sm" renderRoot={(props) => <Link {...props} to="/datasets" search={{ q: undefined, page: undefined }} />}>
          ← Data sets
        </Anchor>
        <Group gap="sm" align="center">
          <Title order={2} style={{ wordBreak: "break-word" }}>
            {d.name}
          </Title>
          <Badge variant="light" color="blue">
            {d.task}
          </Badge>
          {d.sensitivity && (
            <Badge variant="light" color={SENSITIVITY_COLOR[d.sensitivity] ?? "gray"}>
              {d.sensitivity}
            </Badge>
          )}
        </Group>
        {d.description && <Text>{d.description}</Text>}
        <Text size="sm" c="dimmed">
          License: {d.license || "not given"} · team {d.team} · {d.num_versions} version{d.num_versions === 1 ? "" : "s"}
          {d.created_by ? ` · created by ${d.created_by}` : ""}
        </Text>
      </Stack>

      {list.length > 0 && selected && (
        <Group gap="sm" align="flex-end">
          <Select
            label="Version"
            data={list.map((v) => ({ value: String(v.version), label: `v${v.version} · ${v.num_rows.toLocaleString("en-US")} rows` }))}
            value={String(selected.version)}
            onChange={(v) => v && selectVersion(Number(v))}
            allowDeselect={false}
            w={{ base: "100%", xs: 240 }}
          />
          <Text size="sm" c="dimmed" pb={6}>
            {selected.format.toUpperCase()} · {formatBytes(selected.size_bytes)} · {selected.source}
            {selected.target ? ` · target ${selected.target}` : ""} · sha256 {selected.sha256.slice(0, 12)}
          </Text>
          {readable && download && (
            <Button component="a" href={download.href} title={download.title} variant="default" size="xs" mb={4} download>
              {download.label}
            </Button>
          )}
        </Group>
      )}

      <Tabs value={current} onChange={(t) => t && setSearch({ tab: t as Tab })} keepMounted={false}>
        <Tabs.List style={{ flexWrap: "nowrap", overflowX: "auto", overflowY: "hidden" }}>
          {tabs.map((t) => (
            <Tabs.Tab key={t} value={t}>
              {TAB_LABELS[t]}
            </Tabs.Tab>
          ))}
        </Tabs.List>

        <Tabs.Panel value="versions" pt="md">
          <Stack gap="lg">
            <Stack gap="xs">
              <Title order={3} size="h4">
                Versions
              </Title>
              {versions.isPending ? (
                <Loading label="Loading versions…" />
              ) : versions.isError ? (
                <ErrorState error={versions.error} title="The versions could not be loaded" />
              ) : list.length === 0 ? (
                <Empty title="No versions yet">{member ? "Upload a file or import a built-in set below." : "A member of the team can add one."}</Empty>
              ) : (
                <VersionsTable versions={list} selected={selected} onSelect={selectVersion} />
              )}
            </Stack>
            {member && (
              <Stack gap="xs">
                <Title order={3} size="h4">
                  Add a version
                </Title>
                <UploadPanel datasetId={d.id} onCreated={onCreated} />
              </Stack>
            )}
          </Stack>
        </Tabs.Panel>

        <Tabs.Panel value="schema" pt="md">
          <Stack gap="xs">
            <Title order={3} size="h4">
              Schema and column statistics{selected ? ` of v${selected.version}` : ""}
            </Title>
            {readable ? needVersion((v) => <SchemaTab versionId={v.id} target={v.target} />) : restricted("column statistics and rows")}
          </Stack>
        </Tabs.Panel>

        <Tabs.Panel value="preview" pt="md">
          <Stack gap="xs">
            <Title order={3} size="h4">
              Rows{selected ? ` of v${selected.version}` : ""}
            </Title>
            {readable
              ? needVersion((v) => (
                  <PreviewTab versionId={v.id} numRows={v.num_rows} target={v.target} offset={offset} onOffset={(o) => setSearch({ offset: o || undefined })} />
                ))
              : restricted("rows and downloads")}
          </Stack>
        </Tabs.Panel>

        <Tabs.Panel value="diff" pt="md">
          <Stack gap="xs">
            <Title order={3} size="h4">
              Differences between versions
            </Title>
            {needVersion((v) => (
              <DiffTab versions={list} base={v} other={other} onOther={(o) => setSearch({ other: o }, true)} />
            ))}
          </Stack>
        </Tabs.Panel>

        <Tabs.Panel value="lineage" pt="md">
          <Stack gap="xs">
            <Title order={3} size="h4">
              Lineage{selected ? ` of v${selected.version}` : ""}
            </Title>
            {needVersion((v) => (
              <LineageTab versionId={v.id} />
            ))}
          </Stack>
        </Tabs.Panel>

        {member && (
          <Tabs.Panel value="process" pt="md">
            <Stack gap="xs">
              <Title order={3} size="h4">
                Process job{selected ? ` on v${selected.version}` : ""}
              </Title>
              {needVersion((v) => (
                <ProcessBuilder version={v} team={d.team || team?.slug || ""} />
              ))}
            </Stack>
          </Tabs.Panel>
        )}
      </Tabs>
    </Stack>
  );
}
