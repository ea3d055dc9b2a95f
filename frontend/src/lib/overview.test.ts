import { describe, expect, it } from "vitest";
import { activeOfKind, loopStages, progressPercent, statusSummary, triggerProgress, type OverviewModel } from "./overview";

function model(over: Partial<OverviewModel> = {}): OverviewModel {
  return {
    datasets: { count: 2, recent: [{ id: "d1", name: "digits", task: "classification", versions: 3, updated_at: "" }] },
    jobs: {
      by_status: { running: 2, queued: 1, succeeded: 5 },
      running: [
        { id: "j1", kind: "train", progress: 0.5, started_at: null },
        { id: "j2", kind: "process", progress: 0.1, started_at: null },
      ],
      queued: [{ id: "j3", kind: "train", queue_reason: "pool cpu is full", created_at: "" }],
      recent: [],
    },
    models: [
      { id: "m1", name: "a", task: "classification", latest_version: { id: "v", version: 3 }, aliases: { production: { id: "v", version: 3 } } },
      { id: "m2", name: "b", task: "regression", latest_version: null, aliases: {} },
    ],
    serving: { predictions_24h: 120, feedback_24h: 30 },
    triggers: [
      { id: "t1", name: "", model: { id: "m1", name: "a" }, min_feedback: 50, feedback_waiting: 60, last_fired_at: null, enabled: true },
      { id: "t2", name: "", model: { id: "m2", name: "b" }, min_feedback: 50, feedback_waiting: 10, last_fired_at: null, enabled: false },
    ],
    usage: { running_jobs: 2, cpu_seconds: 10, gpu_seconds: 0, storage_bytes: 1, jobs: {} },
    ...over,
  };
}

describe("triggerProgress", () => {
  it("is waiting / min, capped, ready at the threshold", () => {
    expect(triggerProgress(25, 50)).toEqual({ percent: 50, ready: false });
    expect(triggerProgress(50, 50)).toEqual({ percent: 100, ready: true });
    expect(triggerProgress(80, 50)).toEqual({ percent: 100, ready: true });
    expect(triggerProgress(0, 0)).toEqual({ percent: 100, ready: true });
  });
  it("knows when the count is unknown", () => {
    expect(triggerProgress(null, 50)).toEqual({ percent: null, ready: false });
  });
});

describe("loopStages", () => {
  it("gives the eight stages in loop order with their numbers and links", () => {
    const stages = loopStages(model());
    expect(stages.map((s) => s.key)).toEqual(["data", "process", "train", "evaluate", "promote", "serve", "feedback", "retrain"]);
    const by = Object.fromEntries(stages.map((s) => [s.key, s]));
    expect(by.data.value).toBe(2);
    expect(by.train).toMatchObject({ value: 2, hint: "1 running, 1 queued", to: "/jobs", search: { kind: "train" } });
    expect(by.process.value).toBe(1);
    expect(by.evaluate.value).toBe(0);
    expect(by.promote).toMatchObject({ value: 1, hint: "of 2 models" });
    expect(by.serve).toMatchObject({ value: 120, unit: "predictions, 24 h" });
    expect(by.feedback).toMatchObject({ value: 30, hint: "60 waiting for retrain" });
    expect(by.retrain).toMatchObject({ value: 1, hint: "1 ready to fire", attention: true });
  });
  it("falls back when serving counts are not known", () => {
    const by = Object.fromEntries(
      loopStages(model({ serving: { predictions_24h: null, feedback_24h: null } })).map((s) => [s.key, s]),
    );
    expect(by.serve).toMatchObject({ value: 1, unit: "models in production" });
    expect(by.feedback.value).toBeNull();
  });
});

describe("helpers", () => {
  it("activeOfKind", () => {
    expect(activeOfKind(model(), "train")).toEqual({ running: 1, queued: 1 });
  });
  it("statusSummary keeps a fixed order and drops zeros", () => {
    expect(statusSummary({ succeeded: 5, failed: 0, queued: 1, running: 2 })).toEqual([
      { status: "running", count: 2 },
      { status: "queued", count: 1 },
      { status: "succeeded", count: 5 },
    ]);
  });
  it("progressPercent", () => {
    expect(progressPercent(0.456)).toBe(46);
    expect(progressPercent(1)).toBe(100);
    expect(progressPercent(null)).toBe(0);
  });
});
