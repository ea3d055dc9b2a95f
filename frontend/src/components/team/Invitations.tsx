/**
 * Team membership is by invitation: an admin invites a username, the invited user accepts or declines.
 * `MyInvitations` lists the signed-in user's pending invitations (shown above every page, nothing when there
 * are none); `TeamInvitations` lists a team's pending invitations for its admins, with Revoke.
 */
import { Alert, Badge, Button, Group, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap, type Schemas } from "../../api/client";
import { formatDateTime } from "../../lib/overviewFormat";
import { MUTED } from "../links";

type Invitation = Schemas["Invitation"];

function MyInvitation({ inv }: { inv: Invitation }) {
  const client = useQueryClient();
  const done = () => {
    void client.invalidateQueries({ queryKey: ["invitations"] });
    void client.invalidateQueries({ queryKey: ["session"] });
  };
  const accept = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/invitations/{id}/accept/", { params: { path: { id: inv.id } } })),
    onSuccess: done,
  });
  const decline = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/invitations/{id}/decline/", { params: { path: { id: inv.id } } })),
    onSuccess: done,
  });
  const error = accept.error ?? decline.error;
  return (
    <Group justify="space-between" wrap="wrap" gap="xs">
      <Text size="sm">
        <b>{inv.invited_by ?? "A team admin"}</b> invited you to <b>{inv.team_name || inv.team}</b> as{" "}
        <Badge variant="light" component="span">
          {inv.role}
        </Badge>
        <Text span size="xs" c={MUTED}>
          {" "}
          (until {formatDateTime(inv.expires_at)})
        </Text>
      </Text>
      <Group gap="xs">
        <Button size="xs" onClick={() => accept.mutate()} loading={accept.isPending} aria-label={`Accept the invitation to ${inv.team}`}>
          Accept
        </Button>
        <Button
          size="xs"
          variant="default"
          onClick={() => decline.mutate()}
          loading={decline.isPending}
          aria-label={`Decline the invitation to ${inv.team}`}
        >
          Decline
        </Button>
      </Group>
      {error && (
        <Text size="xs" c="red.8" role="alert" w="100%">
          {errorMessage(error)}
        </Text>
      )}
    </Group>
  );
}

export function MyInvitations() {
  const invitations = useQuery({
    queryKey: ["invitations"],
    queryFn: () => unwrap(api.GET("/api/v1/invitations/", {})),
    refetchInterval: 60_000,
  });
  const items = invitations.data?.results ?? [];
  if (items.length === 0) return null;
  return (
    <Paper withBorder p="sm" mb="md" aria-label="Your invitations" component="section">
      <Title order={2} size="h5" mb="xs">
        {items.length === 1 ? "An invitation for you" : `${items.length} invitations for you`}
      </Title>
      <Stack gap="xs">
        {items.map((inv) => (
          <MyInvitation key={inv.id} inv={inv} />
        ))}
      </Stack>
    </Paper>
  );
}

export function TeamInvitations({ slug }: { slug: string }) {
  const client = useQueryClient();
  const invitations = useQuery({
    queryKey: ["team", slug, "invitations"],
    queryFn: () => unwrap(api.GET("/api/v1/teams/{slug}/invitations/", { params: { path: { slug } } })),
  });
  const revoke = useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/api/v1/teams/{slug}/invitations/{id}/", { params: { path: { slug, id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["team", slug, "invitations"] }),
  });
  const items = invitations.data?.results ?? [];
  if (invitations.isError)
    return (
      <Alert color="red" role="alert" title="Invitations could not be loaded">
        {errorMessage(invitations.error)}
      </Alert>
    );
  if (items.length === 0) return null;
  return (
    <div>
      <Title order={3} size="h5" mb="xs">
        Pending invitations
      </Title>
      <Table.ScrollContainer minWidth={480}>
        <Table aria-label="Pending invitations">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Username</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Invited by</Table.Th>
              <Table.Th>Expires</Table.Th>
              <Table.Th>Actions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((inv) => (
              <Table.Tr key={inv.id}>
                <Table.Td>{inv.username}</Table.Td>
                <Table.Td>{inv.role}</Table.Td>
                <Table.Td>{inv.invited_by ?? "—"}</Table.Td>
                <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(inv.expires_at)}</Table.Td>
                <Table.Td>
                  <Button
                    size="xs"
                    variant="subtle"
                    color="red"
                    onClick={() => revoke.mutate(inv.id)}
                    aria-label={`Revoke the invitation of ${inv.username}`}
                  >
                    Revoke
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {revoke.isError && (
        <Text size="xs" c="red.8" role="alert">
          {errorMessage(revoke.error)}
        </Text>
      )}
    </div>
  );
}
