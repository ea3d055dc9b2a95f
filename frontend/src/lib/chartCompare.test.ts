import { describe, expect, it } from "vitest";
import { flattenParams, paramRows, parallelLayout, type Scalar } from "./chartCompare";

describe("flattenParams", () => {
  it("flattens a spec to dot paths of scalar leaves", () => {
    expect(
      flattenParams({ architecture: "mlp", hyperparameters: { lr: 0.01, layers: [64, 32] }, deep: { a: { b: true } } }),
    ).toEqual({ architecture: "mlp", "hyperparameters.lr": 0.01, "hyperparameters.layers": "64, 32", "deep.a.b": true });
  });
});

describe("paramRows (diffing)", () => {
  const params: Record<string, Scalar>[] = [
    { lr: 0.1, arch: "mlp", seed: 1 },
    { lr: 0.01, arch: "mlp" },
  ];
  it("marks rows that differ, including a missing value", () => {
    const rows = paramRows(params);
    expect(rows.map((r) => [r.key, r.differs])).toEqual([
      ["arch", false],
      ["lr", true],
      ["seed", true],
    ]);
    expect(rows[2].values).toEqual([1, undefined]);
  });
  it("keeps only differing rows on request", () => {
    expect(paramRows(params, true).map((r) => r.key)).toEqual(["lr", "seed"]);
  });
});

describe("parallelLayout", () => {
  const jobs: { id: string; params: Record<string, Scalar>; metric: number | null }[] = [
    { id: "a", params: { lr: 0.1, epochs: 10, arch: "mlp" }, metric: 0.9 },
    { id: "b", params: { lr: 0.3, epochs: 10, arch: "cnn" }, metric: 0.7 },
    { id: "c", params: { lr: 0.2, epochs: 10, arch: "mlp" }, metric: null },
  ];
  it("has one axis per varying numeric param, then the metric", () => {
    const { axes } = parallelLayout(jobs, "accuracy");
    expect(axes.map((a) => a.key)).toEqual(["lr", "accuracy"]);
    expect(axes[0]).toMatchObject({ min: 0.1, max: 0.3, metric: false });
    expect(axes[1]).toMatchObject({ min: 0.7, max: 0.9, metric: true });
  });
  it("normalises each line to 0..1 per axis; a missing value is null", () => {
    const { lines } = parallelLayout(jobs, "accuracy");
    expect(lines[0].ys[0]).toBeCloseTo(0);
    expect(lines[1].ys[0]).toBeCloseTo(1);
    expect(lines[2].ys[0]).toBeCloseTo(0.5);
    expect(lines[0].shade).toBeCloseTo(1);
    expect(lines[2].shade).toBeNull();
  });
  it("puts a constant axis in the middle", () => {
    const { axes, lines } = parallelLayout([{ id: "a", params: { lr: 1 }, metric: 2 }], "m");
    expect(axes.map((a) => a.key)).toEqual(["lr", "m"]);
    expect(lines[0].ys).toEqual([0.5, 0.5]);
  });
});
