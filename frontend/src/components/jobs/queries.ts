/** Queries the jobs and submit pages share. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";

/** The job kinds the API offers, with their spec schemas. */
export function useJobKinds() {
  return useQuery({
    queryKey: ["job-kinds"],
    queryFn: () => unwrap(api.GET("/api/v1/job-kinds/", { params: { query: { page_size: 100 } } })),
    staleTime: 5 * 60_000,
  });
}
