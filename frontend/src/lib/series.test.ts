import { describe, expect, it } from "vitest";
import { appendLines, fromAnswer, lastStep, matchParts, mergeAfter, minMaxBuckets, stepAtTime, type Series } from "./series";

const answer = (steps: number[], values?: number[]) => ({
  points: steps.map((s, i) => [s, values ? values[i] : s * 10]),
  times: steps.map((s) => 1000 + s),
  count: steps.length,
  downsampled: false,
});

describe("fromAnswer", () => {
  it("splits points into columns and keeps times", () => {
    const s = fromAnswer(answer([0, 1, 2]));
    expect(s.steps).toEqual([0, 1, 2]);
    expect(s.values).toEqual([0, 10, 20]);
    expect(s.times).toEqual([1000, 1001, 1002]);
    expect(s.count).toBe(3);
  });
  it("uses the server's count, not the points drawn", () => {
    const s = fromAnswer({ points: [[0, 1], [99, 2]], count: 100, downsampled: true });
    expect(s.count).toBe(100);
    expect(s.downsampled).toBe(true);
    expect(s.times).toEqual([]);
  });
});

describe("mergeAfter (incremental reads)", () => {
  it("appends points after the last step and grows the count", () => {
    const s = mergeAfter(fromAnswer(answer([0, 1, 2])), answer([3, 4]));
    expect(s.steps).toEqual([0, 1, 2, 3, 4]);
    expect(s.times).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(s.count).toBe(5);
    expect(lastStep(s)).toBe(4);
  });
  it("ignores points already held, so a repeated answer adds nothing", () => {
    const base = fromAnswer(answer([0, 1, 2]));
    const once = mergeAfter(base, answer([2, 3]));
    expect(once.steps).toEqual([0, 1, 2, 3]);
    const twice = mergeAfter(once, answer([2, 3]));
    expect(twice).toBe(once);
  });
  it("starts an empty series", () => {
    const s = mergeAfter(fromAnswer({ points: [] }), answer([5, 6]));
    expect(s.steps).toEqual([5, 6]);
    expect(lastStep(fromAnswer({ points: [] }))).toBe(-1);
  });
  it("does not mutate the series it was given", () => {
    const base = fromAnswer(answer([0]));
    mergeAfter(base, answer([1]));
    expect(base.steps).toEqual([0]);
  });
});

describe("minMaxBuckets (bucket maths)", () => {
  const big = (n: number, spikeAt: number): Series => {
    const steps = Array.from({ length: n }, (_, i) => i);
    const values = steps.map((i) => (i === spikeAt ? 1000 : Math.sin(i / 10)));
    return { steps, values, times: steps.map((i) => i + 0.5), count: n, downsampled: false };
  };
  it("leaves a series that fits untouched", () => {
    const s = big(50, -1);
    expect(minMaxBuckets(s, 100)).toBe(s);
  });
  it("thins to at most maxPoints and keeps every spike", () => {
    for (const spike of [0, 1, 4999, 7777, 9999]) {
      const out = minMaxBuckets(big(10000, spike), 400);
      expect(out.steps.length).toBeLessThanOrEqual(400);
      expect(out.values).toContain(1000);
      expect(out.downsampled).toBe(true);
      expect(out.count).toBe(10000);
    }
  });
  it("keeps each bucket's min and max in step order, times alongside", () => {
    const s: Series = { steps: [0, 1, 2, 3], values: [5, -1, 9, 0], times: [10, 11, 12, 13], count: 4, downsampled: false };
    const out = minMaxBuckets(s, 2); // one bucket
    expect(out.steps).toEqual([1, 2]);
    expect(out.values).toEqual([-1, 9]);
    expect(out.times).toEqual([11, 12]);
  });
  it("never averages: every value drawn is a raw value", () => {
    const s = big(5000, 123);
    const raw = new Set(s.values);
    for (const v of minMaxBuckets(s, 300).values) expect(raw.has(v)).toBe(true);
  });
});

describe("stepAtTime", () => {
  it("finds the step recorded at or before a time", () => {
    const s = fromAnswer(answer([0, 10, 20]));
    expect(stepAtTime(s, 1010)).toBe(10);
    expect(stepAtTime(s, 1015)).toBe(10);
    expect(stepAtTime(s, 0)).toBe(0);
    expect(stepAtTime(s, 99999)).toBe(20);
    expect(stepAtTime(fromAnswer({ points: [[1, 1]] }), 5)).toBeUndefined();
  });
});

describe("log lines", () => {
  const l = (id: number) => ({ id, time: "", line: `line ${id}` });
  it("appends only lines after the last id, and caps the total", () => {
    const a = appendLines([l(1), l(2)], [l(2), l(3)]);
    expect(a.map((x) => x.id)).toEqual([1, 2, 3]);
    expect(appendLines(a, [l(3)])).toBe(a);
    expect(appendLines(a, [l(4), l(5)], 3).map((x) => x.id)).toEqual([3, 4, 5]);
  });
  it("splits a line around case-insensitive matches", () => {
    expect(matchParts("Epoch 3 loss=0.1 LOSS", "loss")).toEqual([
      { text: "Epoch 3 ", match: false },
      { text: "loss", match: true },
      { text: "=0.1 ", match: false },
      { text: "LOSS", match: true },
    ]);
    expect(matchParts("nothing here", "loss")).toBeNull();
    expect(matchParts("x", "")).toEqual([{ text: "x", match: false }]);
  });
});

describe("a NaN or infinite value (null in the answer)", () => {
  it("is a gap: kept in place, never a bucket's low or high", () => {
    const series = fromAnswer({ points: [[0, 1], [1, null], [2, 5], [3, null], [4, 2], [5, 3]], count: 6 });
    expect(series.values).toEqual([1, null, 5, null, 2, 3]);
    const thinned = minMaxBuckets(series, 2);
    expect(thinned.values).not.toContain(null);
    expect(Math.min(...(thinned.values as number[]))).toBe(1);
    expect(Math.max(...(thinned.values as number[]))).toBe(5);
  });
});
