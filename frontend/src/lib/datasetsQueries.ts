/** TanStack Query hooks of the data set pages (all through openapi-fetch + unwrap). */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";

export const PAGE_SIZE = 20;

/** The data set page's search params at their defaults (the router types want every key). */
export const DATASET_SEARCH = { tab: "versions" as const, version: undefined, other: undefined, offset: undefined };

export const datasetKeys = {
  all: ["datasets"] as const,
  list: (team: string | undefined, q: string | undefined, page: number) => ["datasets", "list", team, q ?? "", page] as const,
  one: (id: string) => ["datasets", "one", id] as const,
  versions: (id: string) => ["datasets", "versions", id] as const,
  stats: (versionId: string) => ["dataset-version", versionId, "stats"] as const,
  preview: (versionId: string, limit: number, offset: number) => ["dataset-version", versionId, "preview", limit, offset] as const,
  lineage: (versionId: string) => ["dataset-version", versionId, "lineage"] as const,
};

export function useDatasets(team: string | undefined, q: string | undefined, page: number) {
  return useQuery({
    queryKey: datasetKeys.list(team, q, page),
    enabled: !!team,
    placeholderData: keepPreviousData,
    queryFn: () =>
      unwrap(api.GET("/api/v1/datasets/", { params: { query: { team, search: q || undefined, page, page_size: PAGE_SIZE } } })),
  });
}

export function useCreateDataset() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["DatasetRequest"]) => unwrap(api.POST("/api/v1/datasets/", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: datasetKeys.all }),
  });
}

export function useDataset(id: string) {
  return useQuery({
    queryKey: datasetKeys.one(id),
    queryFn: () => unwrap(api.GET("/api/v1/datasets/{id}/", { params: { path: { id } } })),
  });
}

/** All versions of a data set, newest first (the API's largest page: 500). */
export function useVersions(id: string) {
  return useQuery({
    queryKey: datasetKeys.versions(id),
    queryFn: () => unwrap(api.GET("/api/v1/datasets/{id}/versions/", { params: { path: { id }, query: { page_size: 500 } } })),
  });
}

export function useVersionStats(versionId: string | undefined) {
  return useQuery({
    queryKey: datasetKeys.stats(versionId ?? ""),
    enabled: !!versionId,
    staleTime: Infinity,
    queryFn: () => unwrap(api.GET("/api/v1/dataset-versions/{id}/stats/", { params: { path: { id: versionId! } } })),
  });
}

export function usePreview(versionId: string | undefined, limit: number, offset: number) {
  return useQuery({
    queryKey: datasetKeys.preview(versionId ?? "", limit, offset),
    enabled: !!versionId,
    placeholderData: keepPreviousData,
    staleTime: Infinity,
    queryFn: () =>
      unwrap(api.GET("/api/v1/dataset-versions/{id}/preview/", { params: { path: { id: versionId! }, query: { limit, offset } } })),
  });
}

export function useLineage(versionId: string | undefined) {
  return useQuery({
    queryKey: datasetKeys.lineage(versionId ?? ""),
    enabled: !!versionId,
    queryFn: () => unwrap(api.GET("/api/v1/dataset-versions/{id}/lineage/", { params: { path: { id: versionId! } } })),
  });
}

export function useProcessKind() {
  return useQuery({
    queryKey: ["job-kinds", "process"],
    staleTime: Infinity,
    queryFn: () => unwrap(api.GET("/api/v1/job-kinds/{kind}/", { params: { path: { kind: "process" } } })),
  });
}

export function useImportBuiltin(datasetId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (builtin: Schemas["BuiltinEnum"]) =>
      unwrap(
        api.POST("/api/v1/datasets/{id}/versions/", {
          params: { path: { id: datasetId } },
          body: { builtin } as Schemas["DatasetVersionCreateRequest"],
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: datasetKeys.all }),
  });
}

export function useSubmitProcess() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["JobSubmitRequest"]) => unwrap(api.POST("/api/v1/jobs/", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["jobs"] }),
  });
}
