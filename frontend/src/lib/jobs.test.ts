import { describe, expect, it } from "vitest";
import {
  duration,
  formatParam,
  hasLiveJobs,
  jobsQuery,
  nextOrdering,
  parseColumn,
  parseColumns,
  parseOrdering,
  toggleSelected,
} from "./jobs";

describe("ordering", () => {
  it("defaults to newest first", () => {
    expect(parseOrdering(undefined)).toEqual({ field: "created_at", desc: true });
    expect(parseOrdering("bogus")).toEqual({ field: "created_at", desc: true });
    expect(parseOrdering("status")).toEqual({ field: "status", desc: false });
  });
  it("flips the same field and starts a new one in its natural direction", () => {
    expect(nextOrdering(undefined, "created_at")).toBe("created_at");
    expect(nextOrdering("created_at", "created_at")).toBeUndefined();
    expect(nextOrdering(undefined, "status")).toBe("status");
    expect(nextOrdering("status", "status")).toBe("-status");
    expect(nextOrdering("-status", "status")).toBe("status");
    expect(nextOrdering("status", "finished_at")).toBe("-finished_at");
  });
});

describe("columns", () => {
  it("parses param and metric ids", () => {
    expect(parseColumn("param:hyperparameters.lr")).toEqual({ type: "param", path: "hyperparameters.lr" });
    expect(parseColumn("metric:val_loss")).toEqual({ type: "metric", key: "val_loss" });
    expect(parseColumn("metric:")).toBeNull();
    expect(parseColumn("other")).toBeNull();
  });
  it("drops duplicates and junk", () => {
    expect(parseColumns(["metric:a", "x", "metric:a", "param:b"])).toEqual([
      { type: "metric", key: "a" },
      { type: "param", path: "b" },
    ]);
  });
});

describe("jobsQuery", () => {
  it("builds the API query from the URL state", () => {
    expect(jobsQuery("demo", {})).toEqual({ team: "demo", page: 1, page_size: 100, ordering: "-created_at" });
    expect(
      jobsQuery("demo", { status: ["running", "queued", "nope"], kind: "train", q: "  abc ", ordering: "status", page: 3 }),
    ).toEqual({ team: "demo", page: 3, page_size: 100, ordering: "status", status: ["queued", "running"], kind: "train", search: "abc" });
  });
});

describe("helpers", () => {
  it("polls only while a job may change", () => {
    expect(hasLiveJobs([{ status: "succeeded" }, { status: "running" }])).toBe(true);
    expect(hasLiveJobs([{ status: "queued" }])).toBe(true);
    expect(hasLiveJobs([{ status: "failed" }])).toBe(false);
    expect(hasLiveJobs(undefined)).toBe(false);
  });
  it("toggles selection in order", () => {
    expect(toggleSelected(["a"], "b")).toEqual(["a", "b"]);
    expect(toggleSelected(["a", "b"], "a")).toEqual(["b"]);
  });
  it("formats params", () => {
    expect(formatParam(0.1 + 0.2)).toBe("0.3");
    expect(formatParam("mlp")).toBe("mlp");
    expect(formatParam(true)).toBe("true");
    expect(formatParam([1, 2])).toBe("[1,2]");
    expect(formatParam(undefined)).toBe("");
  });
  it("formats durations", () => {
    const t0 = "2024-01-01T00:00:00Z";
    expect(duration(t0, "2024-01-01T00:00:05Z")).toBe("5s");
    expect(duration(t0, "2024-01-01T00:03:04Z")).toBe("3m 4s");
    expect(duration(t0, "2024-01-01T01:02:00Z")).toBe("1h 2m");
    expect(duration(null, null)).toBe("");
    expect(duration(t0, null, Date.parse("2024-01-01T00:00:09Z"))).toBe("9s");
  });
});
