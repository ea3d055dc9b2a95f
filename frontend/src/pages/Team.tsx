/**
 * Team page (/team?tab=members|tokens|audit|usage): members and roles, your API tokens, the audit trail with
 * filters, and the team's usage. Each tab shows only what the user's role may read or do.
 */
import { Badge, Group, Stack, Tabs, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { getRouteApi } from "@tanstack/react-router";
import { api, unwrap } from "../api/client";
import { useCan, useTeam } from "../auth";
import { Audit } from "../components/team/Audit";
import { Members } from "../components/team/Members";
import { Tokens } from "../components/team/Tokens";
import { UsageView } from "../components/team/Usage";
import { QueryState } from "../components/states";
import type { TEAM_TABS } from "../router";
import { MUTED } from "../components/links";

const route = getRouteApi("/team");
type Tab = (typeof TEAM_TABS)[number];

function UsageTab({ slug }: { slug: string }) {
  const usage = useQuery({
    queryKey: ["team", slug, "usage"],
    queryFn: () => unwrap(api.GET("/api/v1/teams/{slug}/usage/", { params: { path: { slug } } })),
    refetchInterval: 10_000,
  });
  return <QueryState query={usage} loading="Loading usage…">{(u) => <UsageView usage={u} />}</QueryState>;
}

export default function TeamPage() {
  const { team } = useTeam();
  const { tab } = route.useSearch();
  const navigate = route.useNavigate();
  const canAudit = useCan("maintainer");
  if (!team) return <Title order={2}>Team</Title>;
  const slug = team.slug;
  return (
    <Stack gap="md">
      <div>
        <Title order={2}>Team</Title>
        <Group gap="xs" mt={4}>
          <Text size="sm">
            {team.name || team.slug}{" "}
            <Text span size="sm" c={MUTED}>
              ({team.slug})
            </Text>
          </Text>
          <Badge variant="light" color={team.role === "admin" ? "grape" : "gray"} aria-label={`Your role: ${team.role}`}>
            {team.role}
          </Badge>
        </Group>
      </div>
      <Tabs
        value={tab}
        onChange={(t) => t && void navigate({ search: (prev) => ({ ...prev, tab: t as Tab, page: 1 }) })}
        keepMounted={false}
      >
        <Tabs.List style={{ flexWrap: "nowrap", overflowX: "auto" }}>
          <Tabs.Tab value="members">Members</Tabs.Tab>
          <Tabs.Tab value="tokens">API tokens</Tabs.Tab>
          {canAudit && <Tabs.Tab value="audit">Audit</Tabs.Tab>}
          <Tabs.Tab value="usage">Usage</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="members" pt="md">
          <Members slug={slug} />
        </Tabs.Panel>
        <Tabs.Panel value="tokens" pt="md">
          <Tokens />
        </Tabs.Panel>
        <Tabs.Panel value="audit" pt="md">
          {canAudit ? (
            <Audit slug={slug} />
          ) : (
            <Text size="sm" c={MUTED}>
              The audit trail is open to the team's maintainers and admins.
            </Text>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="usage" pt="md">
          <UsageTab slug={slug} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
