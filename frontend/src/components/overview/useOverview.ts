/** The Overview's data: one call to GET /teams/{slug}/overview/, refetched every 5 s. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { OverviewModel } from "../../lib/overview";

export const OVERVIEW_REFRESH_MS = 5_000;

async function loadOverview(slug: string): Promise<OverviewModel> {
  // the API's TeamOverview, checked against the page's model at compile time
  const overview: OverviewModel = await unwrap(api.GET("/api/v1/teams/{slug}/overview/", { params: { path: { slug } } }));
  return overview;
}

export function useOverview(team: string | undefined) {
  return useQuery({
    queryKey: ["team", team, "overview"],
    queryFn: () => loadOverview(team as string),
    enabled: Boolean(team),
    refetchInterval: OVERVIEW_REFRESH_MS,
  });
}
