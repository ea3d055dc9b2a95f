import { describe, expect, it } from "vitest";
import { bestOf, defaultDirection, directionsOf, effectiveDirection, formatMetric, toggleFlip } from "./metricsummary";

const summary = { last: 0.2, last_step: 9, min: 0.1, min_step: 7, max: 0.9, max_step: 0, count: 10, direction: "min" };

describe("direction", () => {
  it("defaults to min for loss and error names, max otherwise", () => {
    expect(defaultDirection("loss")).toBe("min");
    expect(defaultDirection("val_loss")).toBe("min");
    expect(defaultDirection("error_rate")).toBe("min");
    expect(defaultDirection("RMSE")).toBe("min");
    expect(defaultDirection("perplexity")).toBe("min");
    expect(defaultDirection("accuracy")).toBe("max");
    expect(defaultDirection("f1")).toBe("max");
  });
  it("follows the API's direction over the name rule", () => {
    expect(effectiveDirection("loss", "max", [])).toBe("max");
    expect(effectiveDirection("accuracy", "min", [])).toBe("min");
    expect(effectiveDirection("accuracy", undefined, [])).toBe("max");
    expect(effectiveDirection("accuracy", "sideways", [])).toBe("max");
  });
  it("flips when the key is in ?flip=", () => {
    expect(effectiveDirection("loss", "min", ["loss"])).toBe("max");
    expect(effectiveDirection("accuracy", "max", ["accuracy"])).toBe("min");
    expect(effectiveDirection("accuracy", "max", ["loss"])).toBe("max");
  });
});

describe("bestOf", () => {
  it("takes the minimum and its step for min metrics", () => {
    expect(bestOf(summary, "min")).toEqual({ value: 0.1, step: 7 });
  });
  it("takes the maximum and its step for max metrics", () => {
    expect(bestOf(summary, "max")).toEqual({ value: 0.9, step: 0 });
  });
  it("is null without a summary or a value", () => {
    expect(bestOf(undefined, "min")).toBeNull();
    expect(bestOf({ min: null, min_step: null }, "min")).toBeNull();
    expect(bestOf({ max: NaN, max_step: 3 }, "max")).toBeNull();
  });
  it("keeps a missing step as null", () => {
    expect(bestOf({ min: 1 }, "min")).toEqual({ value: 1, step: null });
  });
});

describe("toggleFlip", () => {
  it("adds and removes keys, sorted", () => {
    expect(toggleFlip([], "loss")).toEqual(["loss"]);
    expect(toggleFlip(["loss"], "acc")).toEqual(["acc", "loss"]);
    expect(toggleFlip(["acc", "loss"], "loss")).toEqual(["acc"]);
  });
});

describe("directionsOf", () => {
  it("prefers declared directions, then the first summary's", () => {
    const jobs = [
      { metric_summaries: { loss: { direction: "min" }, acc: { direction: "max" } } },
      { metric_summaries: { acc: { direction: "min" }, f1: { direction: "max" } } },
      { metric_summaries: null },
    ];
    expect(directionsOf(jobs, [{ key: "acc", direction: "min" }])).toEqual({ acc: "min", loss: "min", f1: "max" });
  });
});

describe("formatMetric", () => {
  it("shows up to four significant digits", () => {
    expect(formatMetric(0.123456)).toBe("0.1235");
    expect(formatMetric(12)).toBe("12");
    expect(formatMetric(1234.5678)).toBe("1235");
    expect(formatMetric(0.00001234)).toBe("1.23e-5");
    expect(formatMetric(null)).toBe("");
    expect(formatMetric(0)).toBe("0");
  });
});
