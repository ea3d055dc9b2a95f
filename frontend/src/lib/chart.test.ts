import { describe, expect, it } from "vitest";
import {
  afterRequest, alignSeries, chartSearchPatch, chosenKeys, clampSmooth, defaultDirection, formatTick, formatValue,
  maxPointsFor, selectionWindow, windowRequest,
} from "./chart";

describe("bucket sizing", () => {
  it("asks for two points per pixel of plot width", () => {
    expect(maxPointsFor(600)).toBe(1200);
    expect(maxPointsFor(1000.4)).toBe(2000);
  });
  it("stays within sane bounds", () => {
    expect(maxPointsFor(0)).toBe(200);
    expect(maxPointsFor(100000)).toBe(20000);
  });
});

describe("window -> request", () => {
  it("asks for the whole series without a window", () => {
    expect(windowRequest("loss", 500)).toEqual({ key: "loss", max_points: 1000 });
  });
  it("sends the window as inclusive integer steps", () => {
    expect(windowRequest("loss", 500, { from: 10.7, to: 20.2 })).toEqual({
      key: "loss", max_points: 1000, start_step: 10, end_step: 21,
    });
    expect(windowRequest("loss", 500, { from: 5 })).toEqual({ key: "loss", max_points: 1000, start_step: 5 });
  });
  it("swaps a reversed window", () => {
    const r = windowRequest("loss", 500, { from: 30, to: 20 });
    expect([r.start_step, r.end_step]).toEqual([20, 30]);
  });
  it("makes incremental reads with after_step", () => {
    expect(afterRequest("acc", 300, 41)).toEqual({ key: "acc", max_points: 600, after_step: 41 });
  });
});

describe("zoom selection -> URL window", () => {
  it("rounds outward to whole steps", () => {
    expect(selectionWindow(12.3, 40.6)).toEqual({ from: 12, to: 41 });
    expect(selectionWindow(40.6, 12.3)).toEqual({ from: 12, to: 41 });
  });
  it("treats a click as no zoom", () => {
    expect(selectionWindow(5, 5)).toBeNull();
  });
  it("maps time to steps through the given lookup", () => {
    const toStep = (t: number) => (t < 100 ? 0 : t - 100);
    expect(selectionWindow(150, 180, toStep)).toEqual({ from: 50, to: 80 });
    expect(selectionWindow(1, 2, () => undefined)).toBeNull();
  });
});

describe("URL state", () => {
  it("drops defaults so URLs stay short", () => {
    expect(chartSearchPatch({ x: "step" })).toEqual({ x: undefined });
    expect(chartSearchPatch({ x: "time" })).toEqual({ x: "time" });
    expect(chartSearchPatch({ smooth: 0 })).toEqual({ smooth: undefined });
    expect(chartSearchPatch({ smooth: 0.6 })).toEqual({ smooth: 0.6 });
  });
  it("clears a zoom window by both ends", () => {
    expect(chartSearchPatch({ from: undefined, to: undefined })).toEqual({ from: undefined, to: undefined });
    expect(chartSearchPatch({ from: 3, to: 9 })).toEqual({ from: 3, to: 9 });
  });
  it("clamps smoothing to 0..0.99 on a 0.01 grid", () => {
    expect(clampSmooth(0.999)).toBe(0.99);
    expect(clampSmooth(-1)).toBe(0);
    expect(clampSmooth(0.123)).toBe(0.12);
    expect(clampSmooth(NaN)).toBe(0);
  });
  it("picks the keys in ?keys= that exist, else all", () => {
    expect(chosenKeys(["loss", "acc"], ["acc", "nope"])).toEqual(["acc"]);
    expect(chosenKeys(["loss", "acc"], [])).toEqual(["loss", "acc"]);
    expect(chosenKeys(["loss", "acc"], ["nope"])).toEqual(["loss", "acc"]);
    // system metrics go after the job's own when none are chosen, and fall off first past the limit
    expect(chosenKeys(["epoch", "system/cpu", "train_loss"], [], 2)).toEqual(["epoch", "train_loss"]);
    expect(chosenKeys(["system/cpu", "loss"], ["system/cpu"])).toEqual(["system/cpu"]);
  });
});

describe("alignSeries", () => {
  it("lays series on the union of their x values with nulls in the gaps", () => {
    const [x, a, b] = alignSeries([
      { x: [0, 2, 4], y: [1, 2, 3] },
      { x: [1, 2], y: [9, 8] },
    ]);
    expect(x).toEqual([0, 1, 2, 4]);
    expect(a).toEqual([1, null, 2, 3]);
    expect(b).toEqual([null, 9, 8, null]);
  });
});

describe("formatting and directions", () => {
  it("formats values compactly", () => {
    expect(formatValue(3)).toBe("3");
    expect(formatValue(0.123456)).toBe("0.1235");
    expect(formatValue(null)).toBe("–");
    expect(formatValue(0.00001234)).toBe("1.234e-5");
  });
  it("labels y ticks in at most 3 significant digits, compact when large, exponent when tiny", () => {
    expect([0, 2e-6, 4e-6, 6.5e-6].map(formatTick)).toEqual(["0", "2e-6", "4e-6", "6.5e-6"]);
    expect([25000, 100000, 1250000].map(formatTick)).toEqual(["25K", "100K", "1.25M"]);
    expect([0.005, 0.0125, 2.5, 1234.5, -0.5].map(formatTick)).toEqual(["0.005", "0.0125", "2.5", "1230", "-0.5"]);
    expect(formatTick(null)).toBe("");
  });
  it("defaults loss-like names to min", () => {
    expect(defaultDirection("val_loss")).toBe("min");
    expect(defaultDirection("rmse")).toBe("min");
    expect(defaultDirection("accuracy")).toBe("max");
  });
});
