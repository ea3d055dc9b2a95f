/**
 * Who is signed in, which team the dashboard shows, and what their role there lets them do.
 *
 * Sign-in uses the Django session (`/api/v1/auth/session/`): GET sets the CSRF cookie and says who is signed
 * in; POST {username, password} signs in; DELETE signs out. The chosen team is kept in localStorage.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { ApiError, csrfToken } from "./api/client";

export type Role = "viewer" | "member" | "maintainer" | "admin";
export const ROLES: Role[] = ["viewer", "member", "maintainer", "admin"];

export interface TeamRole {
  slug: string;
  name?: string;
  role: Role;
}

export interface Session {
  authenticated: boolean;
  username: string | null;
  is_staff?: boolean;
  teams: TeamRole[];
}

const SESSION_URL = "/api/v1/auth/session/";

async function sessionCall(method: "GET" | "POST" | "DELETE", body?: unknown): Promise<Session | null> {
  if (method !== "GET" && !csrfToken()) await fetch(SESSION_URL, { credentials: "same-origin" });
  const response = await fetch(SESSION_URL, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(response.status, data);
  return data as Session;
}

export const sessionKey = ["session"] as const;

/** The current session (signed in or not). */
export function useSession() {
  return useQuery({ queryKey: sessionKey, queryFn: () => sessionCall("GET") as Promise<Session>, staleTime: 60_000 });
}

/** Sign in and out; both refresh every query, since what the user may see changes. */
export function useSignInOut() {
  const client = useQueryClient();
  const signIn = useCallback(
    async (username: string, password: string) => {
      const session = await sessionCall("POST", { username, password });
      client.setQueryData(sessionKey, session);
      await client.invalidateQueries({ predicate: (q) => q.queryKey[0] !== "session" });
    },
    [client],
  );
  const signOut = useCallback(async () => {
    await sessionCall("DELETE");
    client.clear();
    await client.invalidateQueries({ queryKey: sessionKey });
  }, [client]);
  return { signIn, signOut };
}

/** True when `role` is at least `minimum` (viewer < member < maintainer < admin). */
export function atLeast(role: Role | undefined, minimum: Role): boolean {
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

interface TeamState {
  teams: TeamRole[];
  team: TeamRole | undefined;
  setTeam: (slug: string) => void;
  /** The user's role in a team (by slug), undefined if not a member. */
  roleIn: (slug: string | undefined) => Role | undefined;
}

const TeamContext = createContext<TeamState>({ teams: [], team: undefined, setTeam: () => {}, roleIn: () => undefined });
const TEAM_KEY = "eco.team";

export function TeamProvider({ teams, children }: { teams: TeamRole[]; children: ReactNode }) {
  const [chosen, setChosen] = useState<string | null>(() => localStorage.getItem(TEAM_KEY));
  const value = useMemo<TeamState>(() => {
    const team = teams.find((t) => t.slug === chosen) ?? teams[0];
    return {
      teams,
      team,
      setTeam: (slug: string) => {
        localStorage.setItem(TEAM_KEY, slug);
        setChosen(slug);
      },
      roleIn: (slug) => teams.find((t) => t.slug === slug)?.role,
    };
  }, [teams, chosen]);
  return <TeamContext.Provider value={value}>{children}</TeamContext.Provider>;
}

/** The team the dashboard shows and the user's role in it. */
export function useTeam(): TeamState {
  return useContext(TeamContext);
}

/** Whether the user may do what needs `minimum` in `teamSlug` (default: the current team). */
export function useCan(minimum: Role, teamSlug?: string): boolean {
  const { team, roleIn } = useTeam();
  return atLeast(teamSlug ? roleIn(teamSlug) : team?.role, minimum);
}
