/** The frame of every page: header (team switcher, colour scheme, user), navigation, and the sign-in gate. */
import {
  ActionIcon,
  AppShell,
  Badge,
  Burger,
  Button,
  Group,
  Menu,
  NavLink,
  Select,
  Text,
  Title,
  Tooltip,
  useComputedColorScheme,
  useMantineColorScheme,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { Link, Outlet, useRouterState } from "@tanstack/react-router";
import { TeamProvider, useSession, useSignInOut, useTeam } from "../auth";
import { SignIn } from "./SignIn";
import { ErrorState, Loading } from "./states";
import { MyInvitations } from "./team/Invitations";

const NAV = [
  { to: "/", label: "Overview" },
  { to: "/datasets", label: "Data sets" },
  { to: "/jobs", label: "Jobs" },
  { to: "/compare", label: "Compare" },
  { to: "/submit", label: "Submit" },
  { to: "/models", label: "Models" },
  { to: "/team", label: "Team" },
] as const;

function ColorSchemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const computed = useComputedColorScheme("light");
  const next = computed === "dark" ? "light" : "dark";
  return (
    <Tooltip label={`Switch to ${next} mode`}>
      <ActionIcon variant="default" size="lg" aria-label={`Switch to ${next} mode`} onClick={() => setColorScheme(next)}>
        <span aria-hidden>{computed === "dark" ? "☀" : "☾"}</span>
      </ActionIcon>
    </Tooltip>
  );
}

function TeamSwitcher() {
  const { teams, team, setTeam } = useTeam();
  if (teams.length === 0) return null;
  return (
    <Group gap={6} wrap="nowrap">
      <Select
        aria-label="Team"
        size="sm"
        w={{ base: 140, sm: 180 }}
        data={teams.map((t) => ({ value: t.slug, label: t.name || t.slug }))}
        renderOption={({ option }) => (
          <Group gap="xs" justify="space-between" wrap="nowrap" w="100%">
            <Text size="sm" truncate>
              {option.label}
            </Text>
            <Badge size="xs" variant="light" color="gray">
              {teams.find((t) => t.slug === option.value)?.role}
            </Badge>
          </Group>
        )}
        value={team?.slug ?? null}
        onChange={(slug) => slug && setTeam(slug)}
        allowDeselect={false}
        comboboxProps={{ withinPortal: true, width: 240, position: "bottom-end" }}
      />
      {team && (
        <Badge
          size="sm"
          variant="light"
          color={team.role === "admin" ? "grape" : "gray"}
          visibleFrom="xs"
          aria-label={`Your role: ${team.role}`}
        >
          {team.role}
        </Badge>
      )}
    </Group>
  );
}

function UserMenu({ username }: { username: string }) {
  const { signOut } = useSignInOut();
  return (
    <Menu position="bottom-end">
      <Menu.Target>
        <Button variant="default" size="sm" aria-label={`Account: ${username}`}>
          {username}
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item component="a" href="/api/docs/">
          API documentation
        </Menu.Item>
        <Menu.Item component="a" href="/admin/">
          Admin
        </Menu.Item>
        <Menu.Divider />
        <Menu.Item onClick={() => void signOut()}>Sign out</Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

export function Layout() {
  const session = useSession();
  const [opened, { toggle, close }] = useDisclosure();
  const pathname = useRouterState({ select: (s) => s.location.pathname });

  if (session.isPending) return <Loading label="Signing in…" />;
  if (session.isError) return <ErrorState error={session.error} title="The server did not answer" />;
  if (!session.data.authenticated) return <SignIn />;

  return (
    <TeamProvider teams={session.data.teams}>
      <AppShell
        header={{ height: 56 }}
        navbar={{ width: 200, breakpoint: "sm", collapsed: { mobile: !opened } }}
        padding="md"
      >
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap">
            <Group gap="sm" wrap="nowrap">
              <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Navigation" />
              <Title order={1} size="h3" c="var(--mantine-color-green-text)" style={{ whiteSpace: "nowrap" }}>
                <Link to="/" style={{ color: "inherit", textDecoration: "none" }}>
                  Eco
                </Link>
              </Title>
            </Group>
            <Group gap="xs" wrap="nowrap">
              <TeamSwitcher />
              <ColorSchemeToggle />
              <UserMenu username={session.data.username ?? ""} />
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="xs" aria-label="Main">
          {NAV.map((item) => (
            <NavLink
              key={item.to}
              component={Link}
              to={item.to}
              label={item.label}
              variant="filled"
              active={item.to === "/" ? pathname === "/" : pathname.startsWith(item.to)}
              onClick={close}
              fw={500}
            />
          ))}
        </AppShell.Navbar>
        <AppShell.Main>
          <MyInvitations />
          {session.data.teams.length === 0 ? (
            <Text>
              You are not in a team yet. Ask a team admin to invite you (invitations appear here), or create a team
              through the API.
            </Text>
          ) : (
            <Outlet />
          )}
        </AppShell.Main>
      </AppShell>
    </TeamProvider>
  );
}

export function NotFound() {
  return (
    <div>
      <Title order={2}>Not found</Title>
      <Text mt="sm">
        There is no page here. <Link to="/">Go to the overview</Link>.
      </Text>
    </div>
  );
}
