/** The fields of a job outside its spec: team, priority, resources, retries and timeout. */
import { NumberInput, Select, SimpleGrid, TextInput } from "@mantine/core";

export interface JobFieldValues {
  team: string;
  priority: number;
  pool: string;
  gpus: number;
  /** CPU processes (DistributedDataParallel over gloo); 0: one, the default */
  processes: number;
  max_retries: number;
  /** blank: no timeout */
  timeout_s: number | "";
}

export const JOB_FIELD_DEFAULTS: Omit<JobFieldValues, "team"> = { priority: 0, pool: "", gpus: 0, processes: 0, max_retries: 0, timeout_s: "" };

export function JobFields({
  value,
  teams,
  errors,
  distributed,
  disabled,
  onChange,
}: {
  value: JobFieldValues;
  teams: { value: string; label: string }[];
  errors: Record<string, string[]>;
  /** the kind runs on several processes (its JobKind's `distributed`): offer the processes field */
  distributed?: boolean;
  disabled?: boolean;
  onChange: (patch: Partial<JobFieldValues>) => void;
}) {
  const err = (name: string) => (errors[name]?.length ? errors[name].join(" ") : undefined);
  const num = (v: string | number, fallback: number) => (typeof v === "number" ? v : v === "" ? fallback : Number(v));
  return (
    <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} spacing="sm">
      <Select
        label="Team"
        description="Where the job runs and what it may read"
        data={teams}
        value={value.team || null}
        onChange={(team) => team && onChange({ team })}
        allowDeselect={false}
        disabled={disabled}
        error={err("team")}
        comboboxProps={{ withinPortal: true }}
      />
      <NumberInput
        label="Priority"
        description="From -10 to 10; higher runs first"
        value={value.priority}
        onChange={(v) => onChange({ priority: num(v, 0) })}
        min={-10}
        max={10}
        allowDecimal={false}
        disabled={disabled}
        error={err("priority")}
      />
      <NumberInput
        label="Max retries"
        description="Attempts after a failure, 0 to 10"
        value={value.max_retries}
        onChange={(v) => onChange({ max_retries: num(v, 0) })}
        min={0}
        max={10}
        allowDecimal={false}
        disabled={disabled}
        error={err("max_retries")}
      />
      <NumberInput
        label="Timeout (seconds)"
        description="Blank for none"
        value={value.timeout_s}
        onChange={(v) => onChange({ timeout_s: v === "" ? "" : num(v, 0) })}
        min={1}
        allowDecimal={false}
        disabled={disabled}
        error={err("timeout_s")}
      />
      <TextInput
        label="Pool"
        description="Worker pool; blank: cpu, or gpu when GPUs are asked for"
        placeholder="cpu"
        value={value.pool}
        onChange={(e) => onChange({ pool: e.currentTarget.value })}
        disabled={disabled}
        error={err("resources")}
      />
      <NumberInput
        label="GPUs"
        value={value.gpus}
        description="N GPUs: N processes on one node (NCCL)"
        onChange={(v) => onChange({ gpus: num(v, 0) })}
        min={0}
        allowDecimal={false}
        disabled={disabled}
      />
      {distributed && (
        <NumberInput
          label="Processes"
          description="CPU processes (gloo), held as that many slots; blank: one"
          value={value.processes || ""}
          onChange={(v) => onChange({ processes: num(v, 0) })}
          min={0}
          max={64}
          allowDecimal={false}
          disabled={disabled}
        />
      )}
    </SimpleGrid>
  );
}

/** The request body's job fields (blank ones left to the server's defaults). */
export function jobFieldsBody(v: JobFieldValues) {
  const resources: Record<string, unknown> = {};
  if (v.pool.trim()) resources.pool = v.pool.trim();
  if (v.gpus) resources.gpus = v.gpus;
  if (v.processes) resources.processes = v.processes;
  return {
    team: v.team,
    priority: v.priority,
    max_retries: v.max_retries,
    ...(Object.keys(resources).length ? { resources } : {}),
    ...(v.timeout_s === "" ? {} : { timeout_s: v.timeout_s }),
  };
}
