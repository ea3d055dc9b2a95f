/**
 * A model's whole loop as one picture: data version → job → version → alias moves → predictions → feedback →
 * retrain runs → new version (components/Graph, coloured by node type, a click opens the object's page),
 * and the same story as a chronological list below it (the view for phones).
 */
import { Anchor, Badge, Group, Stack, Text, Timeline as MTimeline, Title } from "@mantine/core";
import { useQueries, useQuery } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { useMediaQuery } from "@mantine/hooks";
import { useMemo } from "react";
import { api, unwrap } from "../api/client";
import { Graph, type GraphNode } from "../components/Graph";
import { ModelLink } from "../components/models/links";
import { useModel } from "../components/models/queries";
import { Empty, QueryState } from "../components/states";
import { chronological, NODE_GROUP, NODE_TYPE_LABEL, nodeHref, nodeSub, type TimelineNode } from "../lib/models";
import { formatDateTime } from "../lib/overviewFormat";

const route = getRouteApi("/models/$modelId/timeline");

const GROUP_COLOR: Record<string, string> = {
  data: "blue",
  job: "grape",
  model: "green",
  alias: "yellow",
  serving: "cyan",
  feedback: "orange",
  trigger: "red",
};

function Legend() {
  return (
    <Group gap={6} aria-label="Node types">
      {Object.entries(NODE_TYPE_LABEL).map(([type, label]) => (
        <Badge key={type} variant="light" color={GROUP_COLOR[NODE_GROUP[type]]} tt="none" c="var(--mantine-color-text)">
          {label}
        </Badge>
      ))}
    </Group>
  );
}

export default function TimelinePage() {
  const { modelId } = route.useParams();
  const model = useModel(modelId);
  const navigate = useNavigate();
  const phone = useMediaQuery("(max-width: 48em)");
  const timeline = useQuery({
    queryKey: ["models", modelId, "timeline"],
    queryFn: () => unwrap(api.GET("/api/v1/models/{id}/timeline/", { params: { path: { id: modelId } } })),
    refetchInterval: 15_000,
  });
  // the timeline names data set versions, not their data sets: look those up to link them (a few per model)
  const dvIds = useMemo(
    () => (timeline.data?.nodes ?? []).filter((n) => n.type === "dataset_version" && n.ref).map((n) => n.ref!.id).slice(0, 30),
    [timeline.data],
  );
  const dvs = useQueries({
    queries: dvIds.map((id) => ({
      queryKey: ["dataset-versions", id],
      queryFn: () => unwrap(api.GET("/api/v1/dataset-versions/{id}/", { params: { path: { id } } })),
      staleTime: 60_000,
    })),
  });
  const datasetOf = useMemo(() => new Map(dvs.flatMap((q) => (q.data ? [[q.data.id, q.data.dataset] as const] : []))), [dvs]);
  const graph = useMemo(() => {
    const nodes: GraphNode[] = (timeline.data?.nodes ?? []).map((n) => ({
      id: n.id,
      label: n.label,
      sub: nodeSub(n),
      group: NODE_GROUP[n.type] ?? "other",
      href: nodeHref(n, modelId, datasetOf),
      highlight: n.type === "alias_move" && String(n.data?.action ?? "").includes("force"),
    }));
    return { nodes, edges: (timeline.data?.edges ?? []).map((e) => ({ source: e.source, target: e.target, label: e.label })) };
  }, [timeline.data, modelId, datasetOf]);

  return (
    <Stack>
      <div>
        <Text size="sm">{model.data ? <ModelLink modelId={modelId}>{model.data.name}</ModelLink> : " "}</Text>
        <Title order={2}>Timeline</Title>
      </div>
      <QueryState query={timeline} loading="Loading the timeline…">
        {(t) =>
          t.nodes.length === 0 ? (
            <Empty title="Nothing has happened yet">Train a version of this model to start its story.</Empty>
          ) : (
            <>
              <Legend />
              <Text size="sm" c="dimmed">
                Data version → job → version → alias moves → predictions → feedback → retrain runs. Click a node to open it;
                drag to pan, scroll or pinch to zoom.
              </Text>
              <Graph nodes={graph.nodes} edges={graph.edges} height={phone ? 300 : 440} label={`Timeline of ${model.data?.name ?? "the model"}`} />
              <Title order={3}>In order</Title>
              <MTimeline bulletSize={14} lineWidth={2} active={-1}>
                {chronological(t.nodes as TimelineNode[]).map((n) => {
                  const href = nodeHref(n, modelId, datasetOf);
                  return (
                    <MTimeline.Item
                      key={n.id}
                      color={GROUP_COLOR[NODE_GROUP[n.type]]}
                      title={
                        <Group gap="xs">
                          <Badge size="xs" variant="light" color={GROUP_COLOR[NODE_GROUP[n.type]]} c="var(--mantine-color-text)" tt="none">
                            {NODE_TYPE_LABEL[n.type] ?? n.type}
                          </Badge>
                          {href ? (
                            <Anchor
                              href={href}
                              onClick={(e) => {
                                if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                                e.preventDefault();
                                void navigate({ href });
                              }}
                              size="sm"
                              fw={600}
                            >
                              {n.label}
                            </Anchor>
                          ) : (
                            <Text size="sm" fw={600}>
                              {n.label}
                            </Text>
                          )}
                        </Group>
                      }
                    >
                      <Text size="xs" c="dimmed">
                        {n.at ? formatDateTime(n.at) : "no date"}
                        {nodeSub(n, false) && ` · ${nodeSub(n, false)}`}
                      </Text>
                    </MTimeline.Item>
                  );
                })}
              </MTimeline>
            </>
          )
        }
      </QueryState>
    </Stack>
  );
}
