/**
 * Which param and metric-summary columns the runs table shows (?cols=). The choices come from
 * GET /api/v1/jobs/columns/ (the distinct param paths and metric keys over the team's jobs).
 */
import { MultiSelect } from "@mantine/core";
import { metricColumn, paramColumn, parseColumn } from "../../lib/jobs";

export function ColumnPicker({
  params,
  metrics,
  value,
  onChange,
  loading,
}: {
  params: string[];
  metrics: { key: string; direction?: string | null }[];
  value: string[];
  onChange: (cols: string[]) => void;
  loading?: boolean;
}) {
  const metricItems = metrics.map((m) => ({
    value: metricColumn(m.key),
    label: `${m.key}${m.direction ? ` (${m.direction === "min" ? "lower" : "higher"} is better)` : ""}`,
  }));
  const paramItems = params.map((p) => ({ value: paramColumn(p), label: p }));
  // keep chosen columns that this team/kind has no job with (a shared URL), so they can be removed
  const known = new Set([...metricItems, ...paramItems].map((i) => i.value));
  const stray = value
    .filter((v) => !known.has(v))
    .map((v) => {
      const ref = parseColumn(v);
      return { value: v, label: ref ? (ref.type === "param" ? ref.path : ref.key) : v };
    });
  const data = [
    { group: "Metrics", items: metricItems },
    { group: "Params", items: paramItems },
    ...(stray.length ? [{ group: "Not in these jobs", items: stray }] : []),
  ].filter((g) => g.items.length);

  return (
    <MultiSelect
      label="Columns"
      placeholder={value.length ? undefined : loading ? "Loading columns…" : "Add param and metric columns"}
      data={data}
      value={value}
      onChange={onChange}
      searchable
      clearable
      nothingFoundMessage={loading ? "Loading…" : "No params or metrics yet"}
      maxDropdownHeight={320}
      w={{ base: "100%", sm: 420 }}
      comboboxProps={{ withinPortal: true }}
    />
  );
}
