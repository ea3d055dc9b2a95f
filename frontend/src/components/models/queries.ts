/** TanStack Query hooks of the model pages (all through the typed client). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../../api/client";

export const modelKeys = {
  all: ["models"] as const,
  list: (team: string | undefined, q: string | undefined, format?: string) => ["models", "list", team, q, format] as const,
  one: (id: string) => ["models", id] as const,
  versions: (id: string) => ["models", id, "versions"] as const,
  version: (versionId: string) => ["model-versions", versionId] as const,
  gate: (id: string) => ["models", id, "gate"] as const,
  aliases: (id: string) => ["models", id, "aliases"] as const,
  evaluations: (modelId: string) => ["evaluations", { model: modelId }] as const,
};

export function useModels(team: string | undefined, q: string | undefined, format?: "hf") {
  return useQuery({
    queryKey: modelKeys.list(team, q, format),
    queryFn: () => unwrap(api.GET("/api/v1/models/", { params: { query: { team, search: q, weights_format: format, page_size: 100 } } })),
    enabled: !!team,
  });
}

export function useModel(id: string) {
  return useQuery({
    queryKey: modelKeys.one(id),
    queryFn: () => unwrap(api.GET("/api/v1/models/{id}/", { params: { path: { id } } })),
  });
}

export function useVersions(id: string) {
  return useQuery({
    queryKey: modelKeys.versions(id),
    queryFn: () => unwrap(api.GET("/api/v1/models/{id}/versions/", { params: { path: { id }, query: { page_size: 100 } } })),
  });
}

export function useGate(id: string) {
  return useQuery({
    queryKey: modelKeys.gate(id),
    // a model without a gate answers 404: that is "no gate", not an error
    queryFn: async () => {
      const { data, response } = await api.GET("/api/v1/models/{id}/gate/", { params: { path: { id } } });
      if (response.status === 404) return null;
      return unwrap(Promise.resolve({ data, response, error: data }));
    },
  });
}

/** The newest 500 evaluations of every version of a model, from one request (`?model=`). */
export function useModelEvaluations(modelId: string) {
  const query = useQuery({
    queryKey: modelKeys.evaluations(modelId),
    queryFn: () => unwrap(api.GET("/api/v1/evaluations/", { params: { query: { model: modelId, page_size: 500 } } })),
  });
  return { ...query, data: query.data?.results };
}

/** A data set version (for names and links of the data sets a version was trained on). */
export function useDatasetVersion(id: string | undefined) {
  return useQuery({
    queryKey: ["dataset-versions", id],
    queryFn: () => unwrap(api.GET("/api/v1/dataset-versions/{id}/", { params: { path: { id: id! } } })),
    enabled: !!id,
    staleTime: 60_000,
  });
}

/** Moves an alias; invalidates the model, its versions and aliases. */
export function useMoveAlias(modelId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { alias: string; version: string; force?: boolean; reason?: string }) =>
      unwrap(
        api.POST("/api/v1/models/{id}/aliases/", {
          params: { path: { id: modelId } },
          body: { force: false, reason: "", ...body },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: modelKeys.one(modelId) }),
  });
}

/** Submits a job (export, quantize) in the model's team. */
export function useSubmitJob() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { team: string; kind: Schemas["KindEnum"]; spec: Record<string, unknown> }) =>
      unwrap(api.POST("/api/v1/jobs/", { body: { priority: 0, max_retries: 0, ...body } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["jobs"] }),
  });
}

/** One model version by id (a fine-tuned version's base may belong to another model). */
export function useModelVersion(id: string | null | undefined) {
  return useQuery({
    queryKey: ["model-version", id],
    queryFn: () => unwrap(api.GET("/api/v1/model-versions/{id}/", { params: { path: { id: id! } } })),
    enabled: !!id,
    staleTime: 60_000,
  });
}
