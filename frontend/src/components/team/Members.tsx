/** Members of the current team and their roles; an admin changes roles, removes members, invites by username
 * (the invited user accepts) and revokes pending invitations. */
import { Alert, Badge, Button, Group, Modal, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, api, errorMessage, unwrap, type Schemas } from "../../api/client";
import { ROLES, useCan, useSession, type Role } from "../../auth";
import { formatDateTime } from "../../lib/overviewFormat";
import { Empty, ErrorState, Loading } from "../states";
import { TeamInvitations } from "./Invitations";
import { LINK, MUTED } from "../links";

type Membership = Schemas["Membership"];
const ROLE_OPTIONS = ROLES.map((r) => ({ value: r, label: r }));

function membersKey(slug: string) {
  return ["team", slug, "members"] as const;
}

function InviteForm({ slug }: { slug: string }) {
  const client = useQueryClient();
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<Role>("member");
  const invite = useMutation({
    mutationFn: () =>
      unwrap(api.POST("/api/v1/teams/{slug}/members/", { params: { path: { slug } }, body: { username, role } })),
    onSuccess: () => {
      setUsername("");
      void client.invalidateQueries({ queryKey: ["team", slug, "invitations"] });
      void client.invalidateQueries({ queryKey: ["team", slug, "audit"] });
    },
  });
  const fieldError =
    invite.error instanceof ApiError ? invite.error.fieldErrors.username?.join(" ") : undefined;
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (username.trim()) invite.mutate();
  };
  return (
    <form onSubmit={onSubmit} aria-label="Invite a member">
      <Title order={3} size="h5" mb="xs">
        Invite a member
      </Title>
      <Group align="flex-start" gap="sm" wrap="wrap">
        <TextInput
          label="Username"
          placeholder="their username"
          value={username}
          onChange={(e) => setUsername(e.currentTarget.value)}
          error={fieldError}
          w={{ base: "100%", xs: 220 }}
          required
        />
        <Select
          label="Role"
          data={ROLE_OPTIONS}
          value={role}
          onChange={(r) => r && setRole(r as Role)}
          allowDeselect={false}
          w={{ base: "100%", xs: 160 }}
        />
        <Button type="submit" mt={{ base: 0, xs: 25 }} loading={invite.isPending} disabled={!username.trim()}>
          Invite
        </Button>
      </Group>
      {invite.isError && !fieldError && (
        <Alert color="red" mt="sm" role="alert" title="Not invited">
          {errorMessage(invite.error)}
        </Alert>
      )}
      {invite.isSuccess && (
        <Text size="sm" c={LINK} mt="xs" role="status">
          {invite.data.detail}
        </Text>
      )}
    </form>
  );
}

function MemberRow({ slug, m, isAdmin, me }: { slug: string; m: Membership; isAdmin: boolean; me: string | null }) {
  const client = useQueryClient();
  const [confirm, setConfirm] = useState(false);
  const invalidate = () => {
    void client.invalidateQueries({ queryKey: membersKey(slug) });
    void client.invalidateQueries({ queryKey: ["team", slug, "audit"] });
    if (m.username === me) void client.invalidateQueries({ queryKey: ["session"] });
  };
  const changeRole = useMutation({
    mutationFn: (role: Role) =>
      unwrap(
        api.PATCH("/api/v1/teams/{slug}/members/{username}/", {
          params: { path: { slug, username: m.username } },
          body: { role },
        }),
      ),
    onSuccess: invalidate,
  });
  const remove = useMutation({
    mutationFn: () =>
      unwrap(api.DELETE("/api/v1/teams/{slug}/members/{username}/", { params: { path: { slug, username: m.username } } })),
    onSuccess: () => {
      setConfirm(false);
      invalidate();
    },
  });
  const error = changeRole.error ?? remove.error;
  return (
    <Table.Tr>
      <Table.Td>
        <Text size="sm" fw={500}>
          {m.username}
          {m.username === me && (
            <Text span size="xs" c={MUTED}>
              {" "}
              (you)
            </Text>
          )}
        </Text>
        {error && (
          <Text size="xs" c="red.8" role="alert">
            {errorMessage(error)}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        {isAdmin ? (
          <Select
            aria-label={`Role of ${m.username}`}
            data={ROLE_OPTIONS}
            value={m.role}
            size="xs"
            w={130}
            allowDeselect={false}
            disabled={changeRole.isPending}
            onChange={(r) => r && r !== m.role && changeRole.mutate(r as Role)}
          />
        ) : (
          <Badge variant="light" color={m.role === "admin" ? "grape" : "gray"}>
            {m.role}
          </Badge>
        )}
      </Table.Td>
      <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(m.created_at)}</Table.Td>
      {isAdmin && (
        <Table.Td>
          <Button size="xs" variant="subtle" color="red" onClick={() => setConfirm(true)} aria-label={`Remove ${m.username}`}>
            Remove
          </Button>
          <Modal opened={confirm} onClose={() => setConfirm(false)} title={`Remove ${m.username}?`} centered>
            <Stack>
              <Text size="sm">
                {m.username} loses access to everything in this team. You can invite them again later.
              </Text>
              {remove.isError && (
                <Alert color="red" role="alert">
                  {errorMessage(remove.error)}
                </Alert>
              )}
              <Group justify="flex-end">
                <Button variant="default" onClick={() => setConfirm(false)}>
                  Cancel
                </Button>
                <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
                  Remove member
                </Button>
              </Group>
            </Stack>
          </Modal>
        </Table.Td>
      )}
    </Table.Tr>
  );
}

export function Members({ slug }: { slug: string }) {
  const isAdmin = useCan("admin");
  const me = useSession().data?.username ?? null;
  const members = useQuery({
    queryKey: membersKey(slug),
    queryFn: () =>
      unwrap(api.GET("/api/v1/teams/{slug}/members/", { params: { path: { slug }, query: { page_size: 500 } } })),
  });
  return (
    <Stack gap="lg">
      {members.isPending ? (
        <Loading label="Loading members…" />
      ) : members.isError ? (
        <ErrorState error={members.error} title="Members could not be loaded" />
      ) : members.data.results.length === 0 ? (
        <Empty title="No members">This team has no members yet.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table striped highlightOnHover aria-label="Members">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>User</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Member since</Table.Th>
                {isAdmin && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {members.data.results.map((m) => (
                <MemberRow key={m.username} slug={slug} m={m} isAdmin={isAdmin} me={me} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {isAdmin && <TeamInvitations slug={slug} />}
      {isAdmin ? (
        <InviteForm slug={slug} />
      ) : (
        <Text size="sm" c={MUTED}>
          Only a team admin can invite members or change roles.
        </Text>
      )}
    </Stack>
  );
}
