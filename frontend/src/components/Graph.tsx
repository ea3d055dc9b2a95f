/**
 * A left-to-right graph (lineage, a model's timeline) laid out by dagre and drawn by React Flow (xyflow).
 * Nodes with an `href` are links. Give nodes and edges; positions are computed here.
 */
import dagre from "@dagrejs/dagre";
import { useComputedColorScheme } from "@mantine/core";
import { useRouter } from "@tanstack/react-router";
import { Background, Controls, Position, ReactFlow, type Edge, type Node } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useMemo } from "react";

export interface GraphNode {
  id: string;
  label: string;
  /** a short second line (kind, date, count) */
  sub?: string;
  /** colour family: data, job, model, alias, serving, feedback, trigger, other */
  group?: string;
  /** an in-app path to open on click */
  href?: string;
  highlight?: boolean;
}

export interface GraphEdge {
  source: string;
  target: string;
  label?: string;
}

const COLORS: Record<string, string> = {
  data: "var(--mantine-color-blue-light)",
  job: "var(--mantine-color-grape-light)",
  model: "var(--mantine-color-green-light)",
  alias: "var(--mantine-color-yellow-light)",
  serving: "var(--mantine-color-cyan-light)",
  feedback: "var(--mantine-color-orange-light)",
  trigger: "var(--mantine-color-red-light)",
  other: "var(--mantine-color-gray-light)",
};

const WIDTH = 190;
const HEIGHT = 54;

/** Node positions from dagre (left to right). Pure, for tests. */
export function layout(nodes: GraphNode[], edges: GraphEdge[], direction: "LR" | "TB" = "LR") {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: direction, nodesep: 24, ranksep: 60 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: WIDTH, height: HEIGHT });
  for (const e of edges) if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return new Map(nodes.map((n) => [n.id, { x: g.node(n.id).x - WIDTH / 2, y: g.node(n.id).y - HEIGHT / 2 }]));
}

export function Graph({ nodes, edges, height = 420, label }: { nodes: GraphNode[]; edges: GraphEdge[]; height?: number; label: string }) {
  const router = useRouter();
  const scheme = useComputedColorScheme("light");
  const [flowNodes, flowEdges] = useMemo(() => {
    const positions = layout(nodes, edges);
    const fn: Node[] = nodes.map((n) => ({
      id: n.id,
      position: positions.get(n.id)!,
      data: {
        label: (
          <div style={{ lineHeight: 1.25 }}>
            <div style={{ fontWeight: 600, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>{n.label}</div>
            {n.sub && <div style={{ fontSize: 11 }}>{n.sub}</div>}
          </div>
        ),
      },
      style: {
        width: WIDTH,
        fontSize: 12,
        background: COLORS[n.group ?? "other"] ?? COLORS.other,
        color: "var(--mantine-color-text)",
        border: n.highlight ? "2px solid var(--mantine-color-green-7)" : "1px solid var(--mantine-color-default-border)",
        cursor: n.href ? "pointer" : "default",
      },
      // edges leave a node's right side and enter the next one's left side (the layout runs left to right)
      sourcePosition: Position.Right,
      targetPosition: Position.Left,
      connectable: false,
      draggable: false,
    }));
    const ids = new Set(nodes.map((n) => n.id));
    const fe: Edge[] = edges
      .filter((e) => ids.has(e.source) && ids.has(e.target))
      .map((e, i) => ({ id: `e${i}`, source: e.source, target: e.target, label: e.label, labelStyle: { fontSize: 10 } }));
    return [fn, fe];
  }, [nodes, edges]);
  const hrefs = useMemo(() => new Map(nodes.filter((n) => n.href).map((n) => [n.id, n.href!])), [nodes]);

  return (
    <div style={{ height, width: "100%", border: "1px solid var(--mantine-color-default-border)", borderRadius: 4 }} aria-label={label} role="group">
      <ReactFlow
        nodes={flowNodes}
        edges={flowEdges}
        colorMode={scheme}
        fitView
        fitViewOptions={{ maxZoom: 1.2 }}
        minZoom={0.05}
        nodesConnectable={false}
        onNodeClick={(_, node) => {
          const href = hrefs.get(node.id);
          // history.push reads a query string in the href (navigate({to}) would not)
          if (href) router.history.push(href);
        }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
