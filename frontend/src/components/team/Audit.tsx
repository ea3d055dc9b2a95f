/** The team's audit trail, newest first, filtered by action, actor and days (all in the URL), paginated. */
import { Autocomplete, Button, Code, Group, Pagination, SimpleGrid, Stack, Table, Text, TextInput } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { getRouteApi } from "@tanstack/react-router";
import { useEffect, useState } from "react";
import { api, unwrap } from "../../api/client";
import { formatDateTime } from "../../lib/overviewFormat";
import { AUDIT_ACTIONS, actionGroups, auditQuery, pageCount, summarizeData } from "../../lib/team";
import { AnchorLink, partialSearch, MUTED } from "../links";
import { Empty, ErrorState, Loading } from "../states";

const route = getRouteApi("/team");
const ACTION_CHOICES = [...actionGroups(), ...AUDIT_ACTIONS];

/** A text filter that writes to the URL when the user stops typing (or leaves the field). */
function useDebounced(value: string | undefined, write: (v: string | undefined) => void) {
  const [draft, setDraft] = useState(value ?? "");
  useEffect(() => setDraft(value ?? ""), [value]);
  useEffect(() => {
    if ((value ?? "") === draft) return;
    const t = setTimeout(() => write(draft.trim() || undefined), 400);
    return () => clearTimeout(t);
  }, [draft]); // eslint-disable-line react-hooks/exhaustive-deps
  return [draft, setDraft] as const;
}

/** The event's target, linked to its page when the dashboard has one. */
function Target({ type, id }: { type?: string; id?: string }) {
  if (!type) return <>—</>;
  const short = <Code>{(id ?? "").slice(0, 8)}</Code>;
  const link =
    id && type === "job" ? (
      <AnchorLink to="/jobs/$jobId" params={{ jobId: id }} search={partialSearch()} size="sm">
        {short}
      </AnchorLink>
    ) : id && type === "registeredmodel" ? (
      <AnchorLink to="/models/$modelId" params={{ modelId: id }} search={partialSearch()} size="sm">
        {short}
      </AnchorLink>
    ) : id && type === "dataset" ? (
      <AnchorLink to="/datasets/$datasetId" params={{ datasetId: id }} search={partialSearch()} size="sm">
        {short}
      </AnchorLink>
    ) : (
      short
    );
  return (
    <Text size="sm" style={{ whiteSpace: "nowrap" }}>
      {type} {link}
    </Text>
  );
}

export function Audit({ slug }: { slug: string }) {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const set = (patch: Partial<typeof search>) =>
    void navigate({ search: (prev) => ({ ...prev, page: 1, ...patch }), replace: true });
  const [action, setAction] = useDebounced(search.action, (v) => set({ action: v }));
  const [actor, setActor] = useDebounced(search.actor, (v) => set({ actor: v }));
  const query = auditQuery(slug, search);
  const events = useQuery({
    queryKey: ["team", slug, "audit", query],
    queryFn: () => unwrap(api.GET("/api/v1/audit-events/", { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const filtered = Boolean(search.action || search.actor || search.since || search.until);
  const pages = events.data ? pageCount(events.data.count) : 1;

  return (
    <Stack gap="md">
      <SimpleGrid cols={{ base: 2, md: 4 }} spacing="sm" maw={900}>
        <Autocomplete
          label="Action"
          descriptionProps={{ c: MUTED }}
          description='Or a group: "job."'
          placeholder="any action"
          data={ACTION_CHOICES}
          value={action}
          onChange={setAction}
          onOptionSubmit={(v) => set({ action: v })}
          limit={40}
        />
        <TextInput
          label="Actor"
          descriptionProps={{ c: MUTED }}
          description="A username"
          placeholder="anyone"
          value={actor}
          onChange={(e) => setActor(e.currentTarget.value)}
        />
        <TextInput
          type="date"
          label="Since"
          descriptionProps={{ c: MUTED }}
          description="From this day"
          value={search.since ?? ""}
          onChange={(e) => set({ since: e.currentTarget.value || undefined })}
        />
        <TextInput
          type="date"
          label="Until"
          descriptionProps={{ c: MUTED }}
          description="Up to this day"
          value={search.until ?? ""}
          onChange={(e) => set({ until: e.currentTarget.value || undefined })}
        />
      </SimpleGrid>
      {filtered && (
        <Group>
          <Button
            variant="default"
            size="xs"
            onClick={() => set({ action: undefined, actor: undefined, since: undefined, until: undefined })}
          >
            Clear filters
          </Button>
        </Group>
      )}
      {events.isPending ? (
        <Loading label="Loading the audit trail…" />
      ) : events.isError ? (
        <ErrorState error={events.error} title="The audit trail could not be loaded" />
      ) : events.data.results.length === 0 ? (
        <Empty title={filtered ? "No events match these filters" : "No events yet"}>
          {filtered ? "Widen the filters or clear them." : "What people do in this team will be listed here."}
        </Empty>
      ) : (
        <>
          <Text size="sm" c={MUTED} role="status">
            {events.data.count.toLocaleString("en-US")} event{events.data.count === 1 ? "" : "s"}
            {events.isFetching ? " (updating…)" : ""}
          </Text>
          <Table.ScrollContainer minWidth={760}>
            <Table striped aria-label="Audit events">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>Actor</Table.Th>
                  <Table.Th>Action</Table.Th>
                  <Table.Th>Target</Table.Th>
                  <Table.Th>Details</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {events.data.results.map((e) => (
                  <Table.Tr key={e.id}>
                    <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(e.created_at)}</Table.Td>
                    <Table.Td>{e.actor ?? "—"}</Table.Td>
                    <Table.Td>
                      <Code style={{ whiteSpace: "nowrap" }}>{e.action}</Code>
                    </Table.Td>
                    <Table.Td>
                      <Target type={e.target_type} id={e.target_id} />
                    </Table.Td>
                    <Table.Td>
                      <Text size="xs" c={MUTED} lineClamp={2} maw={360}>
                        {summarizeData(e.data)}
                      </Text>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {pages > 1 && (
            <Pagination
              total={pages}
              value={Math.min(search.page, pages)}
              onChange={(page) => void navigate({ search: (prev) => ({ ...prev, page }) })}
              getControlProps={(control) => ({ "aria-label": `${control} page` })}
              getItemProps={(page) => ({ "aria-label": `Page ${page}` })}
              size="sm"
              siblings={1}
            />
          )}
        </>
      )}
    </Stack>
  );
}
