/** Schema with per-column statistics (GET dataset-versions/{id}/stats/): dtype, missing, min/max/mean or top values, a histogram. */
import { Badge, Group, Stack, Text, Tooltip, useComputedColorScheme } from "@mantine/core";
import { createColumnHelper } from "@tanstack/react-table";
import { useMemo } from "react";
import type { Schemas } from "../../api/client";
import { formatCount, formatStat } from "../../lib/datasets";
import { useVersionStats } from "../../lib/datasetsQueries";
import { Empty, ErrorState, Loading } from "../states";
import { DataTable } from "./DataTable";
import { Histogram } from "./Histogram";

type Column = Schemas["ColumnStats"];
const col = createColumnHelper<Column>();

function TopValues({ top, unique }: { top: Schemas["TopValue"][]; unique: number | null }) {
  if (top.length === 0) return <Text size="xs">—</Text>;
  const shown = top.slice(0, 4);
  return (
    <Stack gap={0}>
      {shown.map((t) => (
        <Text key={t.value} size="xs" style={{ whiteSpace: "nowrap", maxWidth: 220, overflow: "hidden", textOverflow: "ellipsis" }} title={t.value}>
          {t.value} <Text span size="xs" c="dimmed">({t.count.toLocaleString("en-US")})</Text>
        </Text>
      ))}
      {top.length > shown.length && (
        <Text size="xs" c="dimmed">
          +{top.length - shown.length} more{unique !== null ? ` of ${unique.toLocaleString("en-US")} distinct` : ""}
        </Text>
      )}
    </Stack>
  );
}

export function SchemaTab({ versionId, target }: { versionId: string; target: string }) {
  const stats = useVersionStats(versionId);
  const warn = useComputedColorScheme("light") === "dark" ? "orange.4" : "orange.9";
  const columns = useMemo(
    () => [
      col.accessor("name", {
        header: "Column",
        cell: (c) => (
          <Group gap={6} wrap="nowrap">
            <Text size="sm" fw={600} style={{ whiteSpace: "nowrap" }}>
              {c.getValue()}
            </Text>
            {c.getValue() === target && (
              <Badge size="xs" color="grape" variant="filled" aria-label="target column">
                target
              </Badge>
            )}
          </Group>
        ),
      }),
      col.accessor("dtype", { header: "Type", cell: (c) => <Text size="sm" ff="monospace">{c.getValue()}</Text> }),
      col.accessor("missing", {
        header: "Missing",
        cell: (c) => {
          const total = c.row.original.count + c.getValue();
          const pct = total ? (c.getValue() / total) * 100 : 0;
          return (
            <Text size="sm" c={c.getValue() > 0 ? warn : undefined} style={{ whiteSpace: "nowrap" }}>
              {formatCount(c.getValue())}
              {c.getValue() > 0 && ` (${pct < 0.1 ? "<0.1" : pct.toFixed(1)}%)`}
            </Text>
          );
        },
      }),
      col.accessor("unique", { header: "Unique", cell: (c) => formatCount(c.getValue()) }),
      col.display({
        id: "summary",
        header: "Min / max / mean (or top values)",
        cell: (c) => {
          const s = c.row.original;
          if (s.top) return <TopValues top={s.top} unique={s.unique} />;
          if (s.min === null && s.max === null && s.mean === null) return <Text size="xs" c="dimmed">—</Text>;
          return (
            <Stack gap={0}>
              <Text size="xs" style={{ whiteSpace: "nowrap" }}>
                min {formatStat(s.min)} · max {formatStat(s.max)}
              </Text>
              <Text size="xs" style={{ whiteSpace: "nowrap" }}>
                mean {formatStat(s.mean)}
                {s.std !== null && (
                  <Tooltip label="population standard deviation">
                    <span> · std {formatStat(s.std)}</span>
                  </Tooltip>
                )}
              </Text>
            </Stack>
          );
        },
      }),
      col.display({
        id: "histogram",
        header: "Histogram",
        cell: (c) => {
          const s = c.row.original;
          return s.histogram && s.histogram.counts.length > 0 ? <Histogram histogram={s.histogram} column={s.name} /> : <Text size="xs" c="dimmed">—</Text>;
        },
      }),
    ],
    [target, warn],
  );

  if (stats.isPending) return <Loading label="Computing column statistics…" />;
  if (stats.isError) return <ErrorState error={stats.error} title="The statistics could not be loaded" />;
  if (stats.data.columns.length === 0) return <Empty title="This version has no columns" />;
  return (
    <Stack gap="xs">
      <Text size="sm" c="dimmed">
        {stats.data.columns.length} columns · {stats.data.num_rows.toLocaleString("en-US")} rows
        {target ? ` · target: ${target}` : ""}
      </Text>
      <DataTable data={stats.data.columns} columns={columns} minWidth={820} getRowId={(c) => c.name} label="Column statistics" />
    </Stack>
  );
}
