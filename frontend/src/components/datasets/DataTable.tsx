/** A @tanstack/react-table table drawn with Mantine's Table, inside a sideways-scrolling container. */
import { Table } from "@mantine/core";
import { flexRender, getCoreRowModel, useReactTable, type ColumnDef, type Row } from "@tanstack/react-table";

export function DataTable<T>({
  data,
  columns,
  minWidth = 640,
  caption,
  label,
  rowProps,
  getRowId,
  highlightOnHover = true,
}: {
  data: T[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  columns: ColumnDef<T, any>[];
  minWidth?: number;
  caption?: string;
  /** the accessible name of the (keyboard-scrollable) region around the table */
  label: string;
  rowProps?: (row: Row<T>) => Record<string, unknown>;
  getRowId?: (row: T, index: number) => string;
  highlightOnHover?: boolean;
}) {
  const table = useReactTable({ data, columns, getCoreRowModel: getCoreRowModel(), getRowId });
  return (
    <Table.ScrollContainer minWidth={minWidth} type="native" tabIndex={0} role="region" aria-label={label}>
      <Table striped highlightOnHover={highlightOnHover} verticalSpacing="xs" fz="sm">
        {caption && <Table.Caption>{caption}</Table.Caption>}
        <Table.Thead>
          {table.getHeaderGroups().map((group) => (
            <Table.Tr key={group.id}>
              {group.headers.map((header) => (
                <Table.Th key={header.id} style={{ whiteSpace: "nowrap" }}>
                  {header.isPlaceholder ? null : flexRender(header.column.columnDef.header, header.getContext())}
                </Table.Th>
              ))}
            </Table.Tr>
          ))}
        </Table.Thead>
        <Table.Tbody>
          {table.getRowModel().rows.map((row) => (
            <Table.Tr key={row.id} {...(rowProps?.(row) ?? {})}>
              {row.getVisibleCells().map((cell) => (
                <Table.Td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
