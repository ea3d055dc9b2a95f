/** The runs table's filters: status (several), kind and a search box; each change goes to the URL. */
import { Group, MultiSelect, Select, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useEffect, useState } from "react";
import { JOB_STATUSES } from "../../lib/jobs";

export interface FilterValues {
  status: string[];
  kind?: string;
  q?: string;
}

export function JobsFilters({
  value,
  kinds,
  onChange,
}: {
  value: FilterValues;
  kinds: string[];
  onChange: (next: Partial<FilterValues>) => void;
}) {
  const [text, setText] = useState(value.q ?? "");
  const [debounced] = useDebouncedValue(text, 300);
  // the URL changed elsewhere (back button, a link): show its text
  useEffect(() => setText(value.q ?? ""), [value.q]);
  useEffect(() => {
    if ((debounced.trim() || undefined) !== (value.q || undefined)) onChange({ q: debounced.trim() || undefined });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  return (
    <Group gap="sm" align="flex-end" wrap="wrap">
      <TextInput
        label="Search"
        placeholder="Job id, kind, model or error"
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
        w={{ base: "100%", sm: 260 }}
      />
      <MultiSelect
        label="Status"
        placeholder={value.status.length ? undefined : "Any status"}
        data={[...JOB_STATUSES]}
        value={value.status}
        onChange={(status) => onChange({ status })}
        clearable
        w={{ base: "100%", sm: 300 }}
        comboboxProps={{ withinPortal: true }}
      />
      <Select
        label="Kind"
        placeholder="Any kind"
        data={kinds}
        value={value.kind ?? null}
        onChange={(kind) => onChange({ kind: kind ?? undefined })}
        clearable
        w={{ base: "100%", sm: 160 }}
        comboboxProps={{ withinPortal: true }}
      />
    </Group>
  );
}
