/**
 * Promote: the candidate beside the version holding the alias, on the gate's pinned set. The gate's dry run
 * shows each check's verdict before anything moves; "Move alias" is enabled only when it passes; an admin may
 * "Force move" with a reason. A refused move (409) shows its checks.
 */
import { Alert, Badge, Button, Card, Group, Select, SimpleGrid, Stack, Table, Text, TextInput, Textarea, Title, VisuallyHidden } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { useState } from "react";
import { api, ApiError, errorMessage, unwrap, type Schemas } from "../api/client";
import { useCan } from "../auth";
import { AliasBadges } from "../components/models/AliasBadges";
import { ModelLink } from "../components/models/links";
import { modelKeys, useDatasetVersion, useGate, useModel, useMoveAlias, useVersions } from "../components/models/queries";
import { Empty, ErrorState, Loading } from "../components/states";
import { checkRows, formatMetric, formatValue, keyMetrics, type CheckRow } from "../lib/models";
import { formatDateTime } from "../lib/overviewFormat";

const route = getRouteApi("/models/$modelId/promote");

function ChecksTable({ rows, caption }: { rows: CheckRow[]; caption: string }) {
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table verticalSpacing="xs" withTableBorder>
        <VisuallyHidden component="caption">{caption}</VisuallyHidden>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Check</Table.Th>
            <Table.Th ta="right">Candidate</Table.Th>
            <Table.Th ta="right">Incumbent</Table.Th>
            <Table.Th ta="right">Threshold</Table.Th>
            <Table.Th>Verdict</Table.Th>
            <Table.Th>Detail</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((r) => (
            <Table.Tr key={r.name}>
              <Table.Td fw={600}>{r.name.replace(/_/g, " ")}</Table.Td>
              <Table.Td ta="right" style={{ fontVariantNumeric: "tabular-nums" }}>
                {formatValue(r.candidate)}
              </Table.Td>
              <Table.Td ta="right" style={{ fontVariantNumeric: "tabular-nums" }}>
                {formatValue(r.incumbent)}
              </Table.Td>
              <Table.Td ta="right" style={{ fontVariantNumeric: "tabular-nums" }}>
                {formatValue(r.threshold)}
              </Table.Td>
              <Table.Td>
                <Badge color={r.passed ? "green" : "red"} variant="light">
                  {r.passed ? "pass" : "fail"}
                </Badge>
              </Table.Td>
              <Table.Td>
                <Text size="sm" maw={420}>
                  {r.detail}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function VersionCard({
  title,
  version,
  task,
  modelId,
  gateMetric,
  score,
}: {
  title: string;
  version: Schemas["ModelVersion"] | undefined;
  task: string;
  modelId: string;
  gateMetric: string | undefined;
  score: number | null | undefined;
}) {
  return (
    <Card withBorder>
      <Text size="sm" c="dimmed">
        {title}
      </Text>
      {version ? (
        <Stack gap={6}>
          <Group gap="xs">
            <ModelLink modelId={modelId} version={version.id} fw={700} size="lg">
              v{version.version}
            </ModelLink>
            <AliasBadges aliases={version.aliases} />
          </Group>
          {gateMetric && (
            <Text size="sm">
              {gateMetric} on the pinned set: <b>{formatMetric(score)}</b>
            </Text>
          )}
          <Text size="sm" c="dimmed">
            Training metrics: {keyMetrics(version.metrics, task, 3).map(([k, v]) => `${k} ${formatMetric(v)}`).join(" · ") || "none"}
          </Text>
          <Text size="xs" c="dimmed">
            {version.format} · created {formatDateTime(version.created_at)}
          </Text>
        </Stack>
      ) : (
        <Text>No version holds this alias yet.</Text>
      )}
    </Card>
  );
}

function PinnedSetName({ id }: { id: string }) {
  const dv = useDatasetVersion(id);
  return <>{dv.data ? `${dv.data.dataset_name} v${dv.data.version}` : id.slice(0, 8)}</>;
}

export default function PromotePage() {
  const { modelId } = route.useParams();
  const search = route.useSearch();
  const navigate = useNavigate({ from: "/models/$modelId/promote" });
  const canMove = useCan("member");
  const isAdmin = useCan("admin");
  const model = useModel(modelId);
  const versions = useVersions(modelId);
  const gate = useGate(modelId);
  const move = useMoveAlias(modelId);
  const [reason, setReason] = useState("");
  const [aliasText, setAliasText] = useState(search.alias);

  const all = versions.data?.results ?? [];
  const candidate = all.find((v) => v.id === search.version || String(v.version) === search.version);
  const holderId = model.data?.aliases[search.alias];
  const incumbent = all.find((v) => v.id === holderId);

  const check = useQuery({
    queryKey: [...modelKeys.one(modelId), "gate-check", search.alias, candidate?.id, holderId, gate.data?.updated_at, model.data?.card],
    queryFn: () =>
      unwrap(
        api.POST("/api/v1/models/{id}/gate/check/", {
          params: { path: { id: modelId } },
          body: { alias: search.alias, version: candidate!.id },
        }),
      ),
    enabled: !!candidate && canMove,
    staleTime: 0,
  });

  if (model.isPending || versions.isPending) return <Loading label="Loading the model…" />;
  if (model.isError) return <ErrorState error={model.error} title="This model could not be loaded" />;
  if (versions.isError) return <ErrorState error={versions.error} />;
  const m = model.data;

  const refused = move.error instanceof ApiError && move.error.status === 409 ? checkRows(move.error.body.checks) : null;
  const reasonError = move.error instanceof ApiError ? move.error.fieldErrors.reason?.join(" ") : undefined;
  const rows = checkRows(check.data?.checks);
  const scoreOf = (which: "candidate" | "incumbent") => {
    const row = rows.find((r) => typeof r[which] === "number");
    return row ? (row[which] as number) : null;
  };
  const gateMetric = check.data?.gated ? (gate.data?.metric || "score") : undefined;
  const alreadyHolds = !!candidate && candidate.id === holderId;
  const passes = !!check.data?.passed && !alreadyHolds;
  const setSearch = (patch: { alias?: string; version?: string }) =>
    void navigate({ search: (s) => ({ ...s, ...patch }), replace: true });

  return (
    <Stack>
      <div>
        <Text size="sm">
          <ModelLink modelId={m.id}>{m.name}</ModelLink>
        </Text>
        <Title order={2}>Promote</Title>
      </div>
      <Group align="flex-end" gap="sm">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (aliasText.trim()) setSearch({ alias: aliasText.trim() });
          }}
        >
          <Group align="flex-end" gap="xs">
            <TextInput label="Alias" value={aliasText} onChange={(e) => setAliasText(e.currentTarget.value)} w={180} />
            <Button type="submit" variant="default">
              Use alias
            </Button>
          </Group>
        </form>
        <Select
          label="Candidate version"
          placeholder="Choose a version"
          data={all.map((v) => ({ value: v.id, label: `v${v.version}${v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}` }))}
          value={candidate?.id ?? null}
          onChange={(v) => v && setSearch({ version: v })}
          allowDeselect={false}
          w={220}
        />
      </Group>

      {all.length === 0 ? (
        <Empty title="No versions to promote">Train or register a version first.</Empty>
      ) : !candidate ? (
        <Empty title="Choose a candidate">Pick the version to move the alias “{search.alias}” to.</Empty>
      ) : (
        <>
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <VersionCard title="Candidate" version={candidate} task={m.task} modelId={m.id} gateMetric={gateMetric} score={scoreOf("candidate")} />
            <VersionCard
              title={`Holding “${search.alias}” now`}
              version={incumbent}
              task={m.task}
              modelId={m.id}
              gateMetric={gateMetric}
              score={scoreOf("incumbent")}
            />
          </SimpleGrid>

          <Title order={3}>Gate checks (dry run: nothing moves)</Title>
          {!canMove ? (
            <Text size="sm" c="dimmed">
              Moving an alias (and its dry run) needs the member role.
            </Text>
          ) : check.isPending ? (
            <Loading label="Running the gate's checks…" />
          ) : check.isError ? (
            <ErrorState error={check.error} title="The dry run failed" />
          ) : !check.data.gated ? (
            <Alert color="blue" variant="light" title="No gate protects this alias">
              “{search.alias}” is not protected by a gate
              {gate.data ? ` (the gate protects ${(gate.data.aliases ?? []).join(", ") || "no alias"})` : ""}: it moves without checks.
            </Alert>
          ) : (
            <Stack gap="xs">
              <Text size="sm">
                On the pinned set{" "}
                <b>{check.data.pinned_dataset_version ? <PinnedSetName id={check.data.pinned_dataset_version} /> : "—"}</b>
                {gate.data ? ` (${gate.data.split})` : ""}, {gate.data?.metric || "the headline metric"}
                {gate.data ? `, minimum gain ${formatValue(gate.data.min_gain)}` : ""}, the candidate{" "}
                <Badge color={check.data.passed ? "green" : "red"} variant="filled">
                  {check.data.passed ? "passes" : "fails"}
                </Badge>
              </Text>
              <ChecksTable rows={rows} caption="The gate's checks of the candidate" />
            </Stack>
          )}

          {canMove && (
            <Stack gap="sm">
              {alreadyHolds && <Text size="sm">v{candidate.version} already holds “{search.alias}”.</Text>}
              <Group>
                <Button
                  disabled={!passes || move.isPending}
                  loading={move.isPending && !move.variables?.force}
                  onClick={() => move.mutate({ alias: search.alias, version: candidate.id })}
                >
                  Move alias
                </Button>
                {!passes && check.data && !alreadyHolds && (
                  <Text size="sm" c="dimmed">
                    The move is offered once every check passes.
                  </Text>
                )}
              </Group>
              {isAdmin && check.data?.gated && !check.data.passed && !alreadyHolds && (
                <Card withBorder>
                  <form
                    onSubmit={(e) => {
                      e.preventDefault();
                      move.mutate({ alias: search.alias, version: candidate.id, force: true, reason });
                    }}
                  >
                    <Stack gap="xs">
                      <Title order={4}>Force the move (admin)</Title>
                      <Text size="sm" c="dimmed">
                        Moves the alias past the failing checks; the audit trail records it with your reason.
                      </Text>
                      <Textarea
                        label="Reason"
                        required
                        value={reason}
                        onChange={(e) => setReason(e.currentTarget.value)}
                        error={reasonError}
                        autosize
                        minRows={2}
                      />
                      <Group>
                        <Button type="submit" color="red" disabled={!reason.trim()} loading={move.isPending && !!move.variables?.force}>
                          Force move
                        </Button>
                      </Group>
                    </Stack>
                  </form>
                </Card>
              )}
              {move.isSuccess && (
                <Alert color="green" role="status" title="Moved">
                  “{move.data.alias}” now points at v{move.data.version_number}.
                </Alert>
              )}
              {refused && (
                <Alert color="red" role="alert" title="The gate refused the move">
                  <Stack gap="xs">
                    <Text size="sm">{errorMessage(move.error)}</Text>
                    <ChecksTable rows={refused} caption="The checks that refused the move" />
                  </Stack>
                </Alert>
              )}
              {move.isError && !refused && !reasonError && (
                <Alert color="red" role="alert" title="The alias did not move">
                  {errorMessage(move.error)}
                </Alert>
              )}
            </Stack>
          )}
        </>
      )}
    </Stack>
  );
}
