import { describe, expect, it } from "vitest";
import { ema } from "./smoothing";

describe("ema (debiased)", () => {
  it("returns the raw values at weight 0", () => {
    expect(ema([1, 5, 3], 0)).toEqual([1, 5, 3]);
  });

  it("starts at the first value (bias correction), not near zero", () => {
    const s = ema([10, 10, 10], 0.9);
    for (const v of s) expect(v).toBeCloseTo(10, 10);
  });

  it("follows s_t = b s_{t-1} + (1-b) x_t, shown as s_t / (1 - b^t)", () => {
    const b = 0.6;
    const xs = [1, 2, 4, 8];
    let s = 0;
    const want = xs.map((x, i) => {
      s = b * s + (1 - b) * x;
      return s / (1 - b ** (i + 1));
    });
    const got = ema(xs, b);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    expect(got[0]).toBeCloseTo(1, 12);
  });

  it("skips missing values without advancing the count", () => {
    const got = ema([2, null, NaN, 4], 0.5);
    expect(got[1]).toBeNull();
    expect(got[2]).toBeNull();
    // t=1: s=1 -> 2; t=2: s=0.5+2=2.5 -> 2.5/0.75
    expect(got[0]).toBeCloseTo(2, 12);
    expect(got[3]).toBeCloseTo(2.5 / 0.75, 12);
  });

  it("lags a step change and stays between the levels", () => {
    const got = ema([0, 0, 0, 1, 1, 1], 0.8) as number[];
    expect(got[3]).toBeGreaterThan(0);
    expect(got[3]).toBeLessThan(1);
    expect(got[5]).toBeGreaterThan(got[3]);
  });
});
