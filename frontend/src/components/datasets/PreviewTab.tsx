/** A paginated preview of a version's rows (GET preview ?limit=&offset=); the offset lives in the URL; wide tables scroll sideways. */
import { Group, Pagination, Stack, Table, Text } from "@mantine/core";
import { previewPage } from "../../lib/datasets";
import { usePreview } from "../../lib/datasetsQueries";
import { Empty, ErrorState, Loading } from "../states";

export const PREVIEW_LIMIT = 50;

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") {
    const text = JSON.stringify(value);
    return text.length > 120 ? `${text.slice(0, 117)}…` : text;
  }
  return String(value);
}

export function PreviewTab({
  versionId,
  numRows,
  target,
  offset,
  onOffset,
}: {
  versionId: string;
  numRows: number;
  target: string;
  offset: number | undefined;
  onOffset: (offset: number) => void;
}) {
  const page = previewPage(offset, PREVIEW_LIMIT, numRows);
  const preview = usePreview(versionId, PREVIEW_LIMIT, page.offset);
  if (numRows === 0) return <Empty title="This version has no rows" />;
  if (preview.isPending) return <Loading label="Loading rows…" />;
  if (preview.isError) return <ErrorState error={preview.error} title="The preview could not be loaded" />;
  const { columns, rows } = preview.data;
  return (
    <Stack gap="xs">
      <Group justify="space-between">
        <Text size="sm" c="dimmed" aria-live="polite">
          Rows {page.first.toLocaleString("en-US")}–{page.last.toLocaleString("en-US")} of {numRows.toLocaleString("en-US")}
          {preview.isFetching ? " (loading…)" : ""}
        </Text>
        {page.pages > 1 && (
          <Pagination
            size="sm"
            total={page.pages}
            value={page.page}
            siblings={1}
            boundaries={1}
            onChange={(p) => onOffset((p - 1) * PREVIEW_LIMIT)}
            getControlProps={(control) => ({ "aria-label": `${control} page of rows` })}
            getItemProps={(p) => ({ "aria-label": `Rows page ${p}` })}
          />
        )}
      </Group>
      <Table.ScrollContainer minWidth={Math.max(480, columns.length * 110)} type="native" tabIndex={0} role="region" aria-label="Rows">
        <Table striped withTableBorder withColumnBorders verticalSpacing={4} fz="xs" style={{ opacity: preview.isPlaceholderData ? 0.6 : 1 }}>
          <Table.Caption>Preview of rows {page.first} to {page.last}</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">#</Table.Th>
              {columns.map((c) => (
                <Table.Th key={c} scope="col" style={{ whiteSpace: "nowrap" }}>
                  {c}
                  {c === target ? " (target)" : ""}
                </Table.Th>
              ))}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row, i) => (
              <Table.Tr key={page.offset + i}>
                <Table.Td c="dimmed">{(page.offset + i + 1).toLocaleString("en-US")}</Table.Td>
                {row.map((v, j) => (
                  <Table.Td key={j} style={{ whiteSpace: "nowrap", maxWidth: 280, overflow: "hidden", textOverflow: "ellipsis" }}>
                    {v === null || v === undefined ? (
                      <Text span size="xs" c="dimmed" fs="italic">
                        missing
                      </Text>
                    ) : (
                      cell(v)
                    )}
                  </Table.Td>
                ))}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}
