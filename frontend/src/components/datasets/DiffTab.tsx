/** The diff of the selected version against another (?other=): columns added, removed, retyped, and the row count change. */
import { Badge, Card, Group, List, Select, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import type { Schemas } from "../../api/client";
import { diffVersions, formatChange } from "../../lib/datasets";
import { Empty } from "../states";

type Version = Schemas["DatasetVersion"];

function ColumnList({ title, items, color, empty }: { title: string; items: string[]; color: string; empty: string }) {
  return (
    <Card withBorder padding="sm">
      <Group gap="xs" mb={6}>
        <Title order={4} size="h6">
          {title}
        </Title>
        <Badge size="sm" variant="light" color={color}>
          {items.length}
        </Badge>
      </Group>
      {items.length === 0 ? (
        <Text size="sm" c="dimmed">
          {empty}
        </Text>
      ) : (
        <List size="sm" spacing={2}>
          {items.map((i) => (
            <List.Item key={i}>{i}</List.Item>
          ))}
        </List>
      )}
    </Card>
  );
}

export function DiffTab({
  versions,
  base,
  other,
  onOther,
}: {
  versions: Version[];
  base: Version;
  other: number | undefined;
  onOther: (version: number | undefined) => void;
}) {
  const choices = versions.filter((v) => v.id !== base.id);
  if (choices.length === 0) return <Empty title="Nothing to compare">This data set has only one version.</Empty>;
  // default: the version just before the selected one, else the newest other one
  const fallback = choices.find((v) => v.version < base.version) ?? choices[0];
  const target = choices.find((v) => v.version === other) ?? fallback;
  // from the other version (older, by default) to the selected one
  const d = diffVersions(target, base);
  const sameFile = base.sha256 === target.sha256;
  return (
    <Stack gap="md">
      <Group align="flex-end" gap="md" wrap="wrap">
        <Select
          label="Compare with version"
          data={choices.map((v) => ({ value: String(v.version), label: `v${v.version} · ${v.num_rows.toLocaleString("en-US")} rows · ${v.source}` }))}
          value={String(target.version)}
          onChange={(v) => onOther(v ? Number(v) : undefined)}
          allowDeselect={false}
          w={{ base: "100%", sm: 320 }}
        />
        <Text size="sm" c="dimmed" pb={6}>
          From v{target.version} to v{base.version} (the selected version){sameFile ? " · identical files" : ""}
        </Text>
      </Group>
      <Table.ScrollContainer minWidth={360} type="native" tabIndex={0} role="region" aria-label="Row count">
        <Table withTableBorder fz="sm" verticalSpacing="xs" captionSide="top">
          <Table.Caption>Row count</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>v{target.version}</Table.Th>
              <Table.Th>v{base.version}</Table.Th>
              <Table.Th>Change</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            <Table.Tr>
              <Table.Td>{d.rows.from.toLocaleString("en-US")}</Table.Td>
              <Table.Td>{d.rows.to.toLocaleString("en-US")}</Table.Td>
              <Table.Td fw={600}>{formatChange(d.rows.change, d.rows.percent)}</Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <SimpleGrid cols={{ base: 1, md: 3 }}>
        <ColumnList title="Columns added" color="green" items={d.added.map((c) => `${c.name} (${c.dtype})`)} empty="None" />
        <ColumnList title="Columns removed" color="red" items={d.removed.map((c) => `${c.name} (${c.dtype})`)} empty="None" />
        <ColumnList title="Type changed" color="orange" items={d.changed.map((c) => `${c.name}: ${c.from} → ${c.to}`)} empty="None" />
      </SimpleGrid>
      <Text size="sm" c="dimmed">
        {d.unchanged} column{d.unchanged === 1 ? "" : "s"} unchanged.
      </Text>
    </Stack>
  );
}
