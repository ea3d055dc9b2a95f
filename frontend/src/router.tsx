/**
 * The route tree. Each route declares its search parameters (`validateSearch`), so every view state is a
 * typed, shareable URL; each page's code is loaded on demand (`lazyRouteComponent`), so the first page
 * loads only what it needs. Pages read their params with `getRouteApi("<path>")`.
 */
import { createRootRoute, createRoute, createRouter, lazyRouteComponent, stripSearchParams } from "@tanstack/react-router";
import { Layout, NotFound } from "./components/Layout";
import { bool, int, list, num, oneOf, optInt, optStr, str } from "./lib/search";

const rootRoute = createRootRoute({ component: Layout, notFoundComponent: NotFound });

const overview = createRoute({
  getParentRoute: () => rootRoute,
  path: "/",
  component: lazyRouteComponent(() => import("./pages/Overview")),
});

const datasets = createRoute({
  getParentRoute: () => rootRoute,
  path: "/datasets",
  validateSearch: (s: Record<string, unknown>) => ({ q: optStr(s.q), page: optInt(s.page) }),
  component: lazyRouteComponent(() => import("./pages/Datasets")),
});

export const DATASET_TABS = ["versions", "schema", "preview", "diff", "lineage", "process"] as const;
const dataset = createRoute({
  getParentRoute: () => rootRoute,
  path: "/datasets/$datasetId",
  validateSearch: (s: Record<string, unknown>) => ({
    tab: oneOf(s.tab, DATASET_TABS, "versions"),
    version: optInt(s.version),
    other: optInt(s.other),
    offset: optInt(s.offset),
  }),
  component: lazyRouteComponent(() => import("./pages/Dataset")),
});

const jobs = createRoute({
  getParentRoute: () => rootRoute,
  path: "/jobs",
  validateSearch: (s: Record<string, unknown>) => ({
    status: list(s.status),
    kind: optStr(s.kind),
    q: optStr(s.q),
    ordering: optStr(s.ordering),
    cols: list(s.cols),
    /** metric keys whose direction the user flipped from the default (best = the other extreme) */
    flip: list(s.flip),
    page: optInt(s.page),
    /** job ids ticked for Compare (kept across pages) */
    selected: list(s.selected),
  }),
  // empty lists stay out of the URL
  search: { middlewares: [stripSearchParams({ status: [], cols: [], flip: [], selected: [] })] },
  component: lazyRouteComponent(() => import("./pages/Jobs")),
});

export const X_AXES = ["step", "time"] as const;
const job = createRoute({
  getParentRoute: () => rootRoute,
  path: "/jobs/$jobId",
  validateSearch: (s: Record<string, unknown>) => ({
    keys: list(s.keys),
    x: oneOf(s.x, X_AXES, "step"),
    smooth: num(s.smooth, 0, 0, 0.999),
    from: optInt(s.from),
    to: optInt(s.to),
    log: optStr(s.log),
  }),
  component: lazyRouteComponent(() => import("./pages/Job")),
});

const compare = createRoute({
  getParentRoute: () => rootRoute,
  path: "/compare",
  validateSearch: (s: Record<string, unknown>) => ({
    jobs: list(s.jobs),
    metric: optStr(s.metric),
    x: oneOf(s.x, X_AXES, "step"),
    smooth: num(s.smooth, 0, 0, 0.999),
    from: optInt(s.from),
    to: optInt(s.to),
    diff: bool(s.diff, false),
  }),
  component: lazyRouteComponent(() => import("./pages/Compare")),
});

const submit = createRoute({
  getParentRoute: () => rootRoute,
  path: "/submit",
  validateSearch: (s: Record<string, unknown>) => ({ kind: str(s.kind, "train"), from: optStr(s.from), base_version: optStr(s.base_version) }),
  component: lazyRouteComponent(() => import("./pages/Submit")),
});

const models = createRoute({
  getParentRoute: () => rootRoute,
  path: "/models",
  validateSearch: (s: Record<string, unknown>) => ({ q: optStr(s.q), format: s.format === "hf" ? ("hf" as const) : undefined }),
  component: lazyRouteComponent(() => import("./pages/Models")),
});

export const MODEL_TABS = ["versions", "card", "evaluations", "gate", "try"] as const;
const model = createRoute({
  getParentRoute: () => rootRoute,
  path: "/models/$modelId",
  validateSearch: (s: Record<string, unknown>) => ({
    tab: oneOf(s.tab, MODEL_TABS, "versions"),
    version: optStr(s.version),
    /** the evaluation whose confusion matrix the evaluations tab shows */
    evaluation: optStr(s.evaluation),
  }),
  component: lazyRouteComponent(() => import("./pages/Model")),
});

const promote = createRoute({
  getParentRoute: () => rootRoute,
  path: "/models/$modelId/promote",
  validateSearch: (s: Record<string, unknown>) => ({ alias: str(s.alias, "production"), version: optStr(s.version) }),
  component: lazyRouteComponent(() => import("./pages/Promote")),
});

const timeline = createRoute({
  getParentRoute: () => rootRoute,
  path: "/models/$modelId/timeline",
  component: lazyRouteComponent(() => import("./pages/Timeline")),
});

export const SERVING_RANGES = ["1h", "24h", "7d", "30d"] as const;
const serving = createRoute({
  getParentRoute: () => rootRoute,
  path: "/models/$modelId/serving",
  validateSearch: (s: Record<string, unknown>) => ({
    version: optStr(s.version),
    range: oneOf(s.range, SERVING_RANGES, "24h"),
  }),
  component: lazyRouteComponent(() => import("./pages/Serving")),
});

export const TEAM_TABS = ["members", "tokens", "audit", "usage"] as const;
const team = createRoute({
  getParentRoute: () => rootRoute,
  path: "/team",
  validateSearch: (s: Record<string, unknown>) => ({
    tab: oneOf(s.tab, TEAM_TABS, "members"),
    action: optStr(s.action),
    actor: optStr(s.actor),
    since: optStr(s.since),
    until: optStr(s.until),
    page: int(s.page, 1, 1),
  }),
  component: lazyRouteComponent(() => import("./pages/Team")),
});

const routeTree = rootRoute.addChildren([
  overview,
  datasets,
  dataset,
  jobs,
  job,
  compare,
  submit,
  models,
  model,
  promote,
  timeline,
  serving,
  team,
]);

export const router = createRouter({ routeTree, defaultPreload: "intent", scrollRestoration: true });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
