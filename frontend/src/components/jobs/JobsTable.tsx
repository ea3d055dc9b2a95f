/**
 * The runs table: one page of jobs (server-paginated), rows virtualised so only the visible few dozen are in
 * the DOM, fixed column widths (so columns do not jump while scrolling), sortable headers for the fields the
 * API orders by, row checkboxes, and param / metric-summary columns chosen in the column picker.
 */
import { Anchor, Box, Checkbox, Group, Progress, Table, Text, Tooltip, UnstyledButton } from "@mantine/core";
import { Link } from "@tanstack/react-router";
import { type ColumnDef, flexRender, getCoreRowModel, useReactTable } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import { type ColumnRef, duration, formatParam, isSortable, parseOrdering, type SortField } from "../../lib/jobs";
import { bestOf, type Direction, effectiveDirection, formatMetric, type SummaryLike } from "../../lib/metricsummary";
import { StatusBadge } from "./StatusBadge";
import type { JobRow } from "./types";

export const ROW_HEIGHT = 40;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
function shortDate(value: string | null | undefined): string {
  return value ? dateFormat.format(new Date(value)) : "";
}

function summaryOf(job: JobRow, key: string): SummaryLike | undefined {
  return job.metric_summaries?.[key];
}

function SortHeader({
  label,
  field,
  ordering,
  onSort,
}: {
  label: string;
  field: SortField;
  ordering: string | undefined;
  onSort: (field: SortField) => void;
}) {
  const { field: now, desc } = parseOrdering(ordering);
  const active = now === field;
  const arrow = active ? (desc ? "▼" : "▲") : "";
  return (
    <UnstyledButton
      onClick={() => onSort(field)}
      aria-label={`Sort by ${label}${active ? (desc ? ", now descending" : ", now ascending") : ""}`}
      style={{ fontWeight: 700, fontSize: "inherit", whiteSpace: "nowrap" }}
    >
      {label} <span aria-hidden>{arrow || "↕"}</span>
    </UnstyledButton>
  );
}

export interface JobsTableProps {
  jobs: JobRow[];
  columns: ColumnRef[];
  directions: Record<string, string>;
  flip: string[];
  ordering: string | undefined;
  selected: string[];
  onSort: (field: SortField) => void;
  onToggle: (id: string) => void;
  onToggleAll: (ids: string[], on: boolean) => void;
  onFlip: (key: string) => void;
  onOpen: (id: string) => void;
  /** height of the scrolling area in px */
  height: number;
}

export function JobsTable(props: JobsTableProps) {
  const { jobs, columns: extra, directions, flip, ordering, selected, onSort, onToggle, onToggleAll, onFlip, onOpen, height } = props;
  const selectedSet = useMemo(() => new Set(selected), [selected]);
  const pageIds = useMemo(() => jobs.map((j) => j.id), [jobs]);
  const allOnPage = pageIds.length > 0 && pageIds.every((id) => selectedSet.has(id));
  const someOnPage = pageIds.some((id) => selectedSet.has(id));

  const columns = useMemo<ColumnDef<JobRow>[]>(() => {
    const sortable = (id: SortField, label: string) => () => <SortHeader label={label} field={id} ordering={ordering} onSort={onSort} />;
    const base: ColumnDef<JobRow>[] = [
      {
        id: "select",
        size: 44,
        header: () => (
          <Checkbox
            aria-label="Select every job on this page"
            checked={allOnPage}
            indeterminate={someOnPage && !allOnPage}
            onChange={(e) => onToggleAll(pageIds, e.currentTarget.checked)}
          />
        ),
        cell: ({ row }) => (
          <Checkbox
            aria-label={`Select job ${row.original.id.slice(0, 8)}`}
            checked={selectedSet.has(row.original.id)}
            onChange={() => onToggle(row.original.id)}
            onClick={(e) => e.stopPropagation()}
          />
        ),
      },
      {
        id: "id",
        size: 100,
        header: "Job",
        cell: ({ row }) => (
          <Anchor
            renderRoot={(p) => <Link to="/jobs/$jobId" params={{ jobId: row.original.id }} {...p} />}
            ff="monospace"
            size="sm"
            onClick={(e: React.MouseEvent) => e.stopPropagation()}
          >
            {row.original.id.slice(0, 8)}
          </Anchor>
        ),
      },
      { id: "kind", size: 92, header: sortable("kind", "Kind"), cell: ({ row }) => row.original.kind },
      {
        id: "status",
        size: 112,
        header: sortable("status", "Status"),
        cell: ({ row }) => <StatusBadge status={row.original.status} title={row.original.error} />,
      },
      {
        id: "progress",
        size: 124,
        header: sortable("progress", "Progress"),
        cell: ({ row }) => {
          const pct = Math.round((row.original.progress ?? 0) * 100);
          return (
            <Group gap={6} wrap="nowrap">
              <Progress
                value={pct}
                w={64}
                size="sm"
                aria-label={`Progress of job ${row.original.id.slice(0, 8)}`}
                animated={row.original.status === "running"}
              />
              <Text size="xs">{pct}%</Text>
            </Group>
          );
        },
      },
      { id: "created_at", size: 136, header: sortable("created_at", "Created"), cell: ({ row }) => shortDate(row.original.created_at) },
      {
        id: "finished_at",
        size: 136,
        header: sortable("finished_at", "Finished"),
        cell: ({ row }) => shortDate(row.original.finished_at),
      },
      {
        id: "duration",
        size: 84,
        header: "Duration",
        cell: ({ row }) => duration(row.original.started_at, row.original.finished_at),
      },
    ];
    for (const ref of extra) {
      if (ref.type === "param") {
        base.push({
          id: `param:${ref.path}`,
          size: 140,
          header: () => (
            <Text size="sm" fw={700} truncate title={ref.path}>
              {ref.path}
            </Text>
          ),
          cell: ({ row }) => {
            const text = formatParam(row.original.params?.[ref.path]);
            return (
              <Text size="sm" truncate title={text}>
                {text}
              </Text>
            );
          },
        });
        continue;
      }
      const key = ref.key;
      const direction: Direction = effectiveDirection(key, directions[key], flip);
      const flipped = flip.includes(key);
      const stat = (name: "last" | "min" | "max", label: string): ColumnDef<JobRow> => ({
        id: `metric:${key}:${name}`,
        size: 84,
        header: label,
        cell: ({ row }) => {
          const s = summaryOf(row.original, key);
          const value = s?.[name];
          const isBest = name === direction && value !== null && value !== undefined;
          return (
            <Text size="sm" fw={isBest ? 700 : undefined} title={isBest ? `best (${direction})` : undefined}>
              {formatMetric(value)}
            </Text>
          );
        },
      });
      base.push({
        id: `metric:${key}`,
        header: () => (
          <Group gap="xs" wrap="nowrap">
            <Text size="sm" fw={700} truncate title={key}>
              {key}
            </Text>
            <Tooltip label={`Best is the ${direction === "min" ? "lowest" : "highest"} value${flipped ? " (flipped)" : ""}; click to flip`}>
              <UnstyledButton
                onClick={() => onFlip(key)}
                aria-label={`Flip direction of ${key}: best is now ${direction}`}
                aria-pressed={flipped}
                style={{ fontSize: "var(--mantine-font-size-xs)", whiteSpace: "nowrap", textDecoration: "underline" }}
              >
                best: {direction}
                {flipped ? " (flipped)" : ""}
              </UnstyledButton>
            </Tooltip>
          </Group>
        ),
        columns: [
          stat("last", "last"),
          stat("min", "min"),
          stat("max", "max"),
          {
            id: `metric:${key}:best_step`,
            size: 84,
            header: "best step",
            cell: ({ row }) => {
              const best = bestOf(summaryOf(row.original, key), direction);
              return best?.step ?? "";
            },
          },
        ],
      });
    }
    return base;
  }, [extra, directions, flip, ordering, onSort, allOnPage, someOnPage, pageIds, selectedSet, onToggle, onToggleAll, onFlip]);

  const table = useReactTable({ data: jobs, columns, getCoreRowModel: getCoreRowModel(), getRowId: (j) => j.id });
  const rows = table.getRowModel().rows;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
  });
  const items = virtualizer.getVirtualItems();
  const padTop = items.length ? items[0].start : 0;
  const padBottom = items.length ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;
  const headerGroups = table.getHeaderGroups();
  const colCount = table.getVisibleLeafColumns().length;

  return (
    <Box
      ref={scrollRef}
      h={height}
      style={{ overflow: "auto", border: "1px solid var(--mantine-color-default-border)", borderRadius: 4 }}
      tabIndex={0}
      role="region"
      aria-label="Jobs table"
    >
      <Table
        stickyHeader
        highlightOnHover
        verticalSpacing={0}
        style={{ tableLayout: "fixed", width: table.getTotalSize(), minWidth: "100%" }}
        aria-rowcount={rows.length + headerGroups.length}
      >
        <colgroup>
          {table.getVisibleLeafColumns().map((c) => (
            <col key={c.id} style={{ width: c.getSize() }} />
          ))}
        </colgroup>
        <Table.Thead>
          {headerGroups.map((group) => (
            <Table.Tr key={group.id}>
              {group.headers.map((header) => (
                <Table.Th
                  key={header.id}
                  colSpan={header.colSpan}
                  style={{ whiteSpace: "nowrap", overflow: "hidden", verticalAlign: "bottom" }}
                  aria-sort={
                    isSortable(header.column.id) && parseOrdering(ordering).field === header.column.id && !header.isPlaceholder
                      ? parseOrdering(ordering).desc
                        ? "descending"
                        : "ascending"
                      : undefined
                  }
                >
                  {header.isPlaceholder ? null : flexRender(header.column.columnDef.header, header.getContext())}
                </Table.Th>
              ))}
            </Table.Tr>
          ))}
        </Table.Thead>
        <Table.Tbody>
          {padTop > 0 && (
            <tr aria-hidden style={{ height: padTop }}>
              <td colSpan={colCount} />
            </tr>
          )}
          {items.map((item) => {
            const row = rows[item.index];
            return (
              <Table.Tr
                key={row.id}
                data-index={item.index}
                aria-rowindex={item.index + 1 + headerGroups.length}
                style={{ height: ROW_HEIGHT, cursor: "pointer" }}
                onClick={() => onOpen(row.id)}
              >
                {row.getVisibleCells().map((cell) => (
                  <Table.Td key={cell.id} style={{ whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" }}>
                    {flexRender(cell.column.columnDef.cell, cell.getContext())}
                  </Table.Td>
                ))}
              </Table.Tr>
            );
          })}
          {padBottom > 0 && (
            <tr aria-hidden style={{ height: padBottom }}>
              <td colSpan={colCount} />
            </tr>
          )}
        </Table.Tbody>
      </Table>
    </Box>
  );
}
