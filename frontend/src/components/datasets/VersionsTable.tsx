/** A data set's versions; choosing one sets ?version= for every tab. */
import { Anchor, Badge, Button, Text } from "@mantine/core";
import { Link } from "@tanstack/react-router";
import { createColumnHelper } from "@tanstack/react-table";
import { useMemo } from "react";
import type { Schemas } from "../../api/client";
import { formatBytes } from "../../lib/datasets";
import { DataTable } from "./DataTable";

type Version = Schemas["DatasetVersion"];
const col = createColumnHelper<Version>();

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function VersionsTable({
  versions,
  selected,
  onSelect,
}: {
  versions: Version[];
  selected: Version | undefined;
  onSelect: (version: number) => void;
}) {
  const byId = useMemo(() => new Map(versions.map((v) => [v.id, v])), [versions]);
  const columns = useMemo(
    () => [
      col.accessor("version", {
        header: "Version",
        cell: (c) => {
          const isSelected = c.row.original.id === selected?.id;
          return (
            <Button
              size="compact-sm"
              variant={isSelected ? "filled" : "light"}
              aria-pressed={isSelected}
              aria-label={`Select version ${c.getValue()}`}
              onClick={() => onSelect(c.getValue())}
            >
              v{c.getValue()}
            </Button>
          );
        },
      }),
      col.accessor("num_rows", { header: "Rows", cell: (c) => c.getValue().toLocaleString("en-US") }),
      col.accessor("size_bytes", { header: "Size", cell: (c) => <span style={{ whiteSpace: "nowrap" }}>{formatBytes(c.getValue())}</span> }),
      col.accessor("status", { header: "Status", cell: (c) => <Badge variant="light" color={c.getValue() === "ready" ? "green" : "gray"}>{c.getValue()}</Badge> }),
      col.accessor("source", {
        header: "Source",
        cell: (c) => {
          const detail = (c.row.original.source_detail ?? {}) as Record<string, unknown>;
          const job = typeof detail.job === "string" ? detail.job : undefined;
          const extra = typeof detail.builtin === "string" ? detail.builtin : typeof detail.filename === "string" ? detail.filename : undefined;
          const steps = Array.isArray(detail.steps) ? (detail.steps as { op?: string }[]).map((s) => s.op).join(" → ") : "";
          return (
            <Text size="sm" style={{ whiteSpace: "nowrap" }} title={steps || undefined}>
              {c.getValue()}
              {job ? (
                <>
                  {" · "}
                  <Anchor size="xs" renderRoot={(props) => <Link {...props} to="/jobs/$jobId" params={{ jobId: job }} />}>
                    job {job.slice(0, 8)}
                  </Anchor>
                </>
              ) : (
                extra && (
                  <Text span size="xs" c="dimmed">
                    {" "}
                    · {extra.length > 28 ? `${extra.slice(0, 27)}…` : extra}
                  </Text>
                )
              )}
            </Text>
          );
        },
      }),
      col.accessor("created_at", { header: "Created", cell: (c) => <span style={{ whiteSpace: "nowrap" }}>{when(c.getValue())}</span> }),
      col.accessor("parents", {
        header: "Parents",
        cell: (c) =>
          c.getValue().length === 0 ? (
            <Text size="sm" c="dimmed">—</Text>
          ) : (
            c
              .getValue()
              .map((id) => {
                const p = byId.get(id);
                return p ? `v${p.version}` : `${id.slice(0, 8)}…`;
              })
              .join(", ")
          ),
      }),
    ],
    [selected?.id, onSelect, byId],
  );
  return (
    <DataTable
      label="Versions"
      data={versions}
      columns={columns}
      minWidth={760}
      getRowId={(v) => v.id}
      rowProps={(row) => (row.original.id === selected?.id ? { "aria-current": "true", style: { boxShadow: "inset 4px 0 0 var(--mantine-primary-color-filled)", fontWeight: 600 } } : {})}
    />
  );
}
