import { describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import {
  barScale,
  buildInput,
  cardSections,
  missingCardFields,
  checkRows,
  chronological,
  confusionMatrix,
  formatMetric,
  heatIndex,
  HEAT,
  inputSchema,
  isolatedIndices,
  keyMetrics,
  leaderboards,
  nodeHref,
  numericMetrics,
  rankedScores,
  servingSeries,
  servingWindow,
  type TimelineNode,
} from "./models";

describe("metrics", () => {
  it("keeps only finite numbers", () => {
    expect(numericMetrics({ accuracy: 0.9, confusion_matrix: {}, per_class: {}, bad: NaN, n: 3 })).toEqual({ accuracy: 0.9, n: 3 });
    expect(numericMetrics(null)).toEqual({});
    expect(numericMetrics([1, 2])).toEqual({});
  });

  it("puts the headline metric first and leaves validation metrics out", () => {
    const m = { val_accuracy: 0.5, f1_macro: 0.7, accuracy: 0.8, log_loss: 0.3 };
    expect(keyMetrics(m, "classification", 2)).toEqual([
      ["accuracy", 0.8],
      ["f1_macro", 0.7],
    ]);
    expect(keyMetrics({ mae: 1, r2: 0.5 }, "regression", 1)).toEqual([["r2", 0.5]]);
  });

  it("formats values for people", () => {
    expect(formatMetric(0.912345)).toBe("0.9123");
    expect(formatMetric(12)).toBe("12");
    expect(formatMetric(null)).toBe("—");
    expect(formatMetric(0.00001234)).toBe("1.234e-5");
  });
});

describe("confusion matrix", () => {
  it("reads a well-formed matrix and refuses a ragged one", () => {
    expect(confusionMatrix({ confusion_matrix: { labels: ["a", 1], matrix: [[3, 1], [0, 4]] } })).toEqual({
      labels: ["a", "1"],
      matrix: [
        [3, 1],
        [0, 4],
      ],
    });
    expect(confusionMatrix({ confusion_matrix: { labels: ["a", "b"], matrix: [[3, 1]] } })).toBeNull();
    expect(confusionMatrix({ confusion_matrix: { labels: ["a"], matrix: [["x"]] } })).toBeNull();
    expect(confusionMatrix({ accuracy: 1 })).toBeNull();
    // a bare matrix takes the version's classes, else per_class's names, else positions
    expect(confusionMatrix({ confusion_matrix: [[1, 0], [0, 1]] }, ["cat", "dog"])?.labels).toEqual(["cat", "dog"]);
    expect(confusionMatrix({ confusion_matrix: [[1, 0], [0, 1]], per_class: { x: {}, y: {} } })?.labels).toEqual(["x", "y"]);
    expect(confusionMatrix({ confusion_matrix: [[1, 0], [0, 1]] })?.labels).toEqual(["0", "1"]);
    expect(confusionMatrix({ val_confusion_matrix: [[2]] }, [], "val_")?.matrix).toEqual([[2]]);
    expect(confusionMatrix({ confusion_matrix: [[1, 0]] })).toBeNull();
  });

  it("shades a cell by its share of the row", () => {
    expect(heatIndex(0, 10)).toBe(0);
    expect(heatIndex(10, 10)).toBe(HEAT.length - 1);
    expect(heatIndex(1, 100)).toBe(1); // any count is visibly not empty
    expect(heatIndex(5, 0)).toBe(0);
  });
});

const evaluation = (over: Partial<Schemas["Evaluation"]>): Schemas["Evaluation"] =>
  ({
    id: "e",
    model_version: "mv1",
    model: "m",
    model_name: "m",
    version: 1,
    team: "demo",
    dataset_version: "dv1",
    dataset: "iris",
    split: "test",
    metric: "accuracy",
    score: 0.5,
    metrics: {},
    num_rows: 10,
    job: null,
    created_by: null,
    created_at: "2026-01-01T00:00:00Z",
    ...over,
  }) as Schemas["Evaluation"];

describe("leaderboards", () => {
  it("groups by evaluation set and keeps each version's latest evaluation", () => {
    const boards = leaderboards([
      evaluation({ id: "a", version: 2, model_version: "mv2", score: 0.9 }),
      evaluation({ id: "b", version: 1, model_version: "mv1", score: 0.7, created_at: "2026-01-02T00:00:00Z" }),
      evaluation({ id: "c", version: 1, model_version: "mv1", score: 0.6, created_at: "2026-01-01T00:00:00Z" }),
      evaluation({ id: "d", version: 1, model_version: "mv1", split: "all", score: 0.65 }),
    ]);
    expect(boards).toHaveLength(2);
    expect(boards[0].entries.map((e) => [e.version, e.score])).toEqual([
      [1, 0.7],
      [2, 0.9],
    ]);
    expect(boards[1].split).toBe("all");
  });

  it("scales bars from zero, with negative scores below it", () => {
    const s = barScale([0.5, 1, null]);
    expect(s.share(1)).toBe(1);
    expect(s.share(0)).toBe(0);
    const neg = barScale([-1, 1]);
    expect(neg.share(0)).toBe(0.5);
  });
});

describe("try it", () => {
  it("reads tabular, text and image inputs from a spec", () => {
    expect(inputSchema({ preprocessing: { kind: "tabular", feature_names: ["a", "b"], classes: ["x", "y"] } })).toEqual({
      kind: "tabular",
      fields: [
        { name: "a", type: "number" },
        { name: "b", type: "number" },
      ],
      classes: ["x", "y"],
    });
    expect(inputSchema({ preprocessing: { kind: "text", text_column: "review" } }).fields).toEqual([{ name: "review", type: "text" }]);
    expect(inputSchema({ preprocessing: { kind: "image", image_shape: [8, 8] } }).imageShape).toEqual([8, 8]);
    expect(inputSchema({}).kind).toBe("unknown");
  });

  it("builds one input and names the fields it cannot read", () => {
    const schema = inputSchema({ preprocessing: { kind: "tabular", feature_names: ["a", "b"] } });
    expect(buildInput(schema, { a: "1.5", b: "2" })).toEqual({ input: { a: 1.5, b: 2 }, errors: {} });
    expect(buildInput(schema, { a: "x", b: "" }).errors).toEqual({ a: "Enter a number.", b: "Enter a number." });
    const text = inputSchema({ preprocessing: { kind: "text", text_column: "t" } });
    expect(buildInput(text, { t: "hello" }).input).toEqual({ t: "hello" });
    const image = inputSchema({ preprocessing: { kind: "image", image_shape: [2, 2] } });
    expect(buildInput(image, { pixels: "[[0,1],[1,0]]" }).input).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(buildInput(image, { pixels: "nope" }).errors.pixels).toMatch(/JSON/);
  });

  it("ranks scores", () => {
    expect(rankedScores({ a: 0.2, b: 0.7, c: 0.1 }).map((s) => s[0])).toEqual(["b", "a", "c"]);
    expect(rankedScores(null)).toEqual([]);
  });
});

describe("gate checks", () => {
  it("reads a dry-run's checks and a refused move's failures alike", () => {
    const rows = checkRows([
      { name: "min_gain", passed: true, detail: "ok", candidate: 0.9, incumbent: 0.8, threshold: 0.01 },
      { check: "model_card", detail: "missing Limits" },
      "junk",
    ]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ name: "min_gain", passed: true, candidate: 0.9, incumbent: 0.8, threshold: 0.01 });
    expect(rows[1]).toMatchObject({ name: "model_card", passed: false, detail: "missing Limits" });
    expect(checkRows(undefined)).toEqual([]);
  });

  it("reads the leakage check's overlap in rows", () => {
    const [leak, unknown] = checkRows([
      { name: "leakage", passed: false, detail: "12 of …", overlap: 12, pinned_rows: 1500, max_overlap: 0 },
      { name: "leakage", passed: true, detail: "unknown", overlap: null, pinned_rows: null, max_overlap: 1 },
    ]);
    expect(leak).toMatchObject({ passed: false, candidate: "12 of 1,500 rows", threshold: "at most 0 rows" });
    expect(unknown).toMatchObject({ passed: true, candidate: null, threshold: "at most 1 row" });
  });
});

describe("serving", () => {
  it("sizes buckets to at most 200 per range, on bucket boundaries", () => {
    const now = new Date("2026-03-01T12:34:56Z");
    for (const range of ["1h", "24h", "7d", "30d"] as const) {
      const w = servingWindow(range, now);
      const span = (Date.parse(w.until) - Date.parse(w.since)) / 1000;
      expect(span / w.bucket).toBeLessThanOrEqual(200);
      expect(w.bucket).toBeGreaterThanOrEqual(60);
      expect((Date.parse(w.until) / 1000) % w.bucket).toBe(0);
      expect(Date.parse(w.until)).toBeGreaterThanOrEqual(now.getTime());
    }
  });

  it("turns buckets into sorted columns with gaps for empty buckets", () => {
    const b = (start: string, requests: number, accuracy: number | null) => ({
      start,
      requests,
      ok: requests - 1,
      refused: 1,
      failed: 0,
      latency_p50_ms: requests ? 5 : null,
      latency_p95_ms: requests ? 9 : null,
      feedback: accuracy === null ? 0 : 2,
      correct: accuracy === null ? 0 : 1,
      accuracy,
    });
    const s = servingSeries([b("2026-01-01T00:01:00Z", 0, null), b("2026-01-01T00:00:00Z", 4, 0.5)]);
    expect(s.x).toEqual([Date.parse("2026-01-01T00:00:00Z") / 1000, Date.parse("2026-01-01T00:01:00Z") / 1000]);
    expect(s.p50).toEqual([5, null]);
    expect(s.accuracy).toEqual([0.5, null]);
    expect(s.totals).toEqual({ requests: 4, refused: 2, failed: 0, feedback: 2, correct: 1 });
  });
});

describe("timeline", () => {
  const node = (type: string, ref: { type: string; id: string } | null, data: Record<string, unknown> = {}, id = `${type}:x`) =>
    ({ id, type, label: type, at: null, ref, data }) as TimelineNode;
  it("links each node to its page", () => {
    expect(nodeHref(node("job", { type: "job", id: "j1" }), "m")).toBe("/jobs/j1");
    expect(nodeHref(node("model_version", { type: "model_version", id: "v1" }), "m")).toBe("/models/m?version=v1");
    // a fine-tune's base in another model links to that model
    expect(nodeHref(node("model_version", { type: "model_version", id: "b1" }, { model: "base" }), "m")).toBe("/models/base?version=b1");
    expect(nodeHref(node("dataset_version", { type: "dataset_version", id: "dv" }), "m", new Map([["dv", "d"]]))).toBe("/datasets/d?version=dv");
    expect(nodeHref(node("dataset_version", { type: "dataset_version", id: "dv" }), "m")).toBeUndefined();
    expect(nodeHref(node("predictions", null, {}, "predictions:v1"), "m")).toBe("/models/m/serving?version=v1");
    expect(nodeHref(node("alias_move", { type: "audit_event", id: "7" }, { version: "v2" }), "m")).toBe("/models/m?version=v2");
    expect(nodeHref(node("trigger_run", { type: "trigger_run", id: "t" }), "m")).toBeUndefined();
  });
  it("sorts by time with undated nodes last", () => {
    const list = chronological([
      { at: null, id: "c" },
      { at: "2026-01-02", id: "b" },
      { at: "2026-01-01", id: "a" },
    ]);
    expect(list.map((n) => n.id)).toEqual(["a", "b", "c"]);
  });
});

describe("model card", () => {
  it("reads sections as the gate does", () => {
    const card = "# digits\n\n## Intended use\nReading digits.\n\n##   Limitations  ##\n\n## Ethics\n";
    expect(cardSections(card)).toEqual({ digits: "", "intended use": "Reading digits.", limitations: "", ethics: "" });
    expect(missingCardFields(card, ["Intended  use", "Limitations", "Data"])).toEqual(["Limitations", "Data"]);
  });
});

describe("isolated points", () => {
  it("finds values a line cannot draw", () => {
    expect(isolatedIndices([null, 1, null, 2, 3, null, 4])).toEqual([1, 6]);
    expect(isolatedIndices([5])).toEqual([0]);
    expect(isolatedIndices([])).toEqual([]);
  });
});
