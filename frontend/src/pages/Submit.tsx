/**
 * Submit: a form for every job kind, generated from the kind's JSON Schema (GET /api/v1/job-kinds/{kind}/).
 * ?kind= picks the kind; ?from=<job id> pre-fills the form from that job (resubmit with edits); ?base_version=<model
 * version id> starts a fine-tune form from that base model version ("Fine-tune" on a version's page).
 */
import { Alert, Anchor, Select, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { useEffect } from "react";
import { api, type Schemas, unwrap } from "../api/client";
import { useJobKinds } from "../components/jobs/queries";
import { JOB_FIELD_DEFAULTS } from "../components/submit/JobFields";
import { SpecForm } from "../components/submit/SpecForm";
import { Empty, ErrorState, Loading } from "../components/states";
import { specOf } from "../lib/jobsform";

const route = getRouteApi("/submit");

export default function SubmitPage() {
  const { kind, from, base_version } = route.useSearch();
  const navigate = useNavigate({ from: "/submit" });
  const kinds = useJobKinds();
  const source = useQuery({
    queryKey: ["job", from],
    queryFn: () => unwrap(api.GET("/api/v1/jobs/{id}/", { params: { path: { id: from! } } })),
    enabled: !!from,
  });

  // resubmitting: the form is the source job's kind
  useEffect(() => {
    if (source.data && source.data.kind !== kind) void navigate({ search: (s) => ({ ...s, kind: source.data.kind }), replace: true });
  }, [source.data, kind, navigate]);

  const list = kinds.data?.results ?? [];
  const current: Schemas["JobKind"] | undefined = list.find((k) => k.kind === kind);

  return (
    <Stack gap="md" maw={960}>
      <Title order={2}>Submit a job</Title>
      <Select
        label="Kind"
        data={list.map((k) => ({ value: k.kind, label: k.kind }))}
        value={current ? kind : null}
        onChange={(k) => k && void navigate({ search: { kind: k, from: undefined, base_version: undefined } })}
        allowDeselect={false}
        disabled={kinds.isPending || !!from}
        w={{ base: "100%", sm: 240 }}
        description={from ? "A resubmitted job keeps its kind" : undefined}
        comboboxProps={{ withinPortal: true }}
      />
      {current && <Text size="sm">{current.description}</Text>}
      {from && source.data && (
        <Alert color="blue" title="Resubmit with edits">
          The form starts from the spec and settings of job{" "}
          <Anchor renderRoot={(p) => <Link to="/jobs/$jobId" params={{ jobId: from }} search={{} as never} {...p} />} ff="monospace">
            {from.slice(0, 8)}
          </Anchor>
          . Submitting creates a new job; the old one is unchanged.{" "}
          <Anchor renderRoot={(p) => <Link to="/submit" search={{ kind, from: undefined, base_version: undefined }} {...p} />}>Start from a blank form</Anchor>.
        </Alert>
      )}
      {kinds.isPending || (from && source.isPending) ? (
        <Loading label="Loading the form…" />
      ) : kinds.isError ? (
        <ErrorState error={kinds.error} title="The job kinds could not be loaded" />
      ) : from && source.isError ? (
        <ErrorState error={source.error} title="The job to resubmit could not be loaded" />
      ) : !current ? (
        <Empty title={`There is no job kind "${kind}"`}>Pick one of the kinds above.</Empty>
      ) : from && source.data && source.data.kind !== kind ? (
        <Loading label="Loading the form…" />
      ) : (
        <SpecForm
          key={`${kind}:${from ?? ""}:${base_version ?? ""}`}
          kind={current}
          initialSpec={base_version && !from && kind === "finetune" ? { base_version } : specOf(source.data, current.spec_schema)}
          initialFields={
            source.data
              ? {
                  team: source.data.team,
                  priority: source.data.priority,
                  max_retries: source.data.max_retries,
                  timeout_s: source.data.timeout_s ?? "",
                  ...resourcesOf(source.data.resources),
                }
              : undefined
          }
        />
      )}
    </Stack>
  );
}

function resourcesOf(resources: unknown): { pool: string; gpus: number; processes: number } {
  const r = (resources && typeof resources === "object" ? resources : {}) as { pool?: unknown; gpus?: unknown; processes?: unknown };
  return {
    pool: typeof r.pool === "string" ? r.pool : JOB_FIELD_DEFAULTS.pool,
    gpus: typeof r.gpus === "number" ? r.gpus : JOB_FIELD_DEFAULTS.gpus,
    processes: typeof r.processes === "number" ? r.processes : JOB_FIELD_DEFAULTS.processes,
  };
}
