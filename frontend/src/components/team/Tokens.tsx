/** Your API tokens: create one with a name (the full token is shown once), list them by prefix, revoke one. */
import {
  Alert,
  Badge,
  Button,
  Code,
  CopyButton,
  Group,
  Modal,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, api, errorMessage, unwrap, type Schemas } from "../../api/client";
import { formatDateTime } from "../../lib/overviewFormat";
import { TOKEN_EXPIRY, expiryDays, tokenState } from "../../lib/team";
import { Empty, ErrorState, Loading } from "../states";
import { MUTED } from "../links";

type Token = Schemas["Token"];
type NewToken = Schemas["NewToken"];
const tokensKey = ["auth", "tokens"] as const;

function NewTokenBox({ token, onDone }: { token: NewToken; onDone: () => void }) {
  return (
    <Alert color="yellow" title={`Token "${token.name || token.prefix}" created`} role="status">
      <Stack gap="xs">
        <Text size="sm" fw={600}>
          Copy it now: this is the only time it is shown. Store it like a password.
        </Text>
        <Group gap="xs" wrap="nowrap" align="center">
          <Code
            aria-label="New token"
            style={{ overflowX: "auto", whiteSpace: "nowrap", flex: 1, minWidth: 0, fontSize: 13 }}
            p="xs"
          >
            {token.token}
          </Code>
          <CopyButton value={token.token}>
            {({ copied, copy }) => (
              <Button size="xs" onClick={copy} color={copied ? "teal" : "blue"} variant="filled">
                {copied ? "Copied" : "Copy token"}
              </Button>
            )}
          </CopyButton>
        </Group>
        <Text size="xs">
          Use it as <Code>Authorization: Bearer &lt;token&gt;</Code> or with the <Code>eco</Code> command line.
        </Text>
        <Group>
          <Button size="xs" variant="default" onClick={onDone}>
            I have stored it
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

type Scope = "read" | "write" | "admin";
const SCOPES: { value: Scope; label: string; hint: string }[] = [
  { value: "read", label: "read", hint: "reads only" },
  { value: "write", label: "write", hint: "reads and writes, up to maintainer" },
  { value: "admin", label: "admin", hint: "all your roles allow" },
];

function CreateForm({ onCreated }: { onCreated: (t: NewToken) => void }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState<string>("");
  const [scope, setScope] = useState<Scope>("write");
  const create = useMutation({
    mutationFn: () => {
      const days = expiryDays(expiry);
      const body = { name: name.trim(), scope };
      return unwrap(
        api.POST("/api/v1/auth/tokens/", { body: days === undefined ? body : { ...body, expires_in_days: days } }),
      );
    },
    onSuccess: (t) => {
      setName("");
      onCreated(t);
      void client.invalidateQueries({ queryKey: tokensKey });
    },
  });
  const errors = create.error instanceof ApiError ? create.error.fieldErrors : {};
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) create.mutate();
  };
  return (
    <form onSubmit={onSubmit} aria-label="Create a token">
      <Title order={3} size="h5" mb="xs">
        Create a token
      </Title>
      <Group align="flex-start" gap="sm">
        <TextInput
          label="Token name"
          placeholder="e.g. laptop CLI"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name?.join(" ")}
          required
          w={{ base: "100%", xs: 240 }}
        />
        <Select
          label="Expires"
          data={TOKEN_EXPIRY.map((o) => ({ ...o }))}
          value={expiry}
          onChange={(v) => setExpiry(v ?? "")}
          allowDeselect={false}
          error={errors.expires_in_days?.join(" ")}
          w={{ base: "100%", xs: 160 }}
        />
        <Select
          label="Scope"
          description={SCOPES.find((o) => o.value === scope)?.hint}
          inputWrapperOrder={["label", "input", "description", "error"]}
          data={SCOPES.map(({ value, label }) => ({ value, label }))}
          value={scope}
          onChange={(v) => v && setScope(v as Scope)}
          allowDeselect={false}
          error={errors.scope?.join(" ")}
          w={{ base: "100%", xs: 200 }}
        />
        <Button type="submit" mt={{ base: 0, xs: 25 }} loading={create.isPending} disabled={!name.trim()}>
          Create token
        </Button>
      </Group>
      {create.isError && !errors.name && !errors.expires_in_days && !errors.scope && (
        <Alert color="red" mt="sm" role="alert" title="No token created">
          {errorMessage(create.error)}
        </Alert>
      )}
    </form>
  );
}

function RevokeButton({ token }: { token: Token }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const revoke = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/auth/tokens/{id}/", { params: { path: { id: token.id } } })),
    onSuccess: () => {
      setOpen(false);
      void client.invalidateQueries({ queryKey: tokensKey });
    },
  });
  const label = token.name || token.prefix;
  return (
    <>
      <Button size="xs" variant="subtle" color="red" onClick={() => setOpen(true)} aria-label={`Revoke ${label}`}>
        Revoke
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={`Revoke "${label}"?`} centered>
        <Stack>
          <Text size="sm">
            Anything using the token <Code>{token.prefix}…</Code> stops working at once. This cannot be undone.
          </Text>
          {revoke.isError && (
            <Alert color="red" role="alert">
              {errorMessage(revoke.error)}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button color="red" loading={revoke.isPending} onClick={() => revoke.mutate()}>
              Revoke token
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

const STATE_COLOR = { active: "green", revoked: "red", expired: "gray" } as const;

export function Tokens() {
  const [created, setCreated] = useState<NewToken | null>(null);
  const tokens = useQuery({
    queryKey: tokensKey,
    queryFn: () => unwrap(api.GET("/api/v1/auth/tokens/", { params: { query: { page_size: 200 } } })),
  });
  return (
    <Stack gap="lg">
      <Text size="sm" c={MUTED}>
        API tokens are yours, not the team's: a token acts as you, with your role in every team.
      </Text>
      {created && <NewTokenBox token={created} onDone={() => setCreated(null)} />}
      <CreateForm onCreated={setCreated} />
      {tokens.isPending ? (
        <Loading label="Loading tokens…" />
      ) : tokens.isError ? (
        <ErrorState error={tokens.error} title="Tokens could not be loaded" />
      ) : tokens.data.results.length === 0 ? (
        <Empty title="No tokens yet">Create one above to use the API or the command line.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={860}>
          <Table striped aria-label="API tokens">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Prefix</Table.Th>
                <Table.Th>Scope</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Last used</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th>Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {tokens.data.results.map((t) => {
                const state = tokenState(t);
                return (
                  <Table.Tr key={t.id}>
                    <Table.Td style={{ whiteSpace: "nowrap" }}>{t.name || "—"}</Table.Td>
                    <Table.Td style={{ whiteSpace: "nowrap" }}>
                      <Code>{t.prefix}…</Code>
                    </Table.Td>
                    <Table.Td>{t.scope}</Table.Td>
                    <Table.Td>
                      <Badge variant="dot" color={STATE_COLOR[state]}>
                        {state}
                      </Badge>
                    </Table.Td>
                    <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(t.created_at)}</Table.Td>
                    <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDateTime(t.last_used_at)}</Table.Td>
                    <Table.Td style={{ whiteSpace: "nowrap" }}>{t.expires_at ? formatDateTime(t.expires_at) : "never"}</Table.Td>
                    <Table.Td>{state === "active" && <RevokeButton token={t} />}</Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
