import { describe, expect, it } from "vitest";
import schema from "./datasetsProcess.fixture.json";
import { buildSteps, labelOf, moveStep, newStep, parseMapping, parseValue, processOps, stepErrorTarget } from "./datasetsProcess";

const ops = processOps(schema);
const op = (name: string) => ops.find((o) => o.op === name)!;

describe("processOps", () => {
  it("reads every op of the schema with its fields", () => {
    expect(ops.map((o) => o.op)).toEqual(["dropna", "dedupe", "standardize", "filter", "map_labels", "sample", "fillna", "cast"]);
    expect(op("dropna").fields).toMatchObject([{ name: "columns", kind: "columns", required: false }]);
    expect(op("filter").fields.map((f) => [f.name, f.kind])).toEqual([
      ["column", "column"],
      ["operator", "enum"],
      ["value", "value"],
    ]);
    expect(op("filter").fields[1].options).toContain("not_in");
    expect(op("sample").fields.map((f) => [f.name, f.kind])).toEqual([
      ["n", "integer"],
      ["fraction", "number"],
      ["seed", "integer"],
      ["complement", "boolean"],
    ]);
    expect(op("sample").fields[1]).toMatchObject({ min: 0, max: 1 });
    expect(op("fillna").fields.find((f) => f.name === "strategy")?.options).toEqual(["mean", "median", "most_frequent", null]);
    expect(op("fillna").fields.find((f) => f.name === "value")?.kind).toBe("value");
    expect(op("map_labels").fields.find((f) => f.name === "mapping")?.kind).toBe("mapping");
    expect(op("cast").fields.filter((f) => f.required).map((f) => f.name)).toEqual(["columns", "to"]);
  });
  it("is empty for a schema it cannot read", () => {
    expect(processOps(undefined)).toEqual([]);
    expect(processOps({ properties: { steps: {} } })).toEqual([]);
  });
});

describe("drafts", () => {
  it("starts with defaults", () => {
    const s = newStep(op("sample"));
    expect(s.values).toEqual({ n: "", fraction: "", seed: 0, complement: false });
    const c = newStep(op("cast"));
    expect(c.values).toEqual({ columns: [], to: null, decimal: "." });
    expect(newStep(op("dropna")).key).not.toBe(newStep(op("dropna")).key);
  });

  it("moves steps", () => {
    expect(moveStep([1, 2, 3], 0, 1)).toEqual([2, 1, 3]);
    expect(moveStep([1, 2, 3], 2, -1)).toEqual([1, 3, 2]);
    const same = [1, 2];
    expect(moveStep(same, 0, -1)).toBe(same);
    expect(moveStep(same, 1, 1)).toBe(same);
  });

  it("builds the spec's steps", () => {
    const drop = newStep(op("dropna"));
    const filter = newStep(op("filter"));
    filter.values = { column: "area", operator: ">", value: "40" };
    const within = newStep(op("filter"));
    within.values = { column: "city", operator: "in", value: "Oslo, Bergen" };
    const sample = newStep(op("sample"));
    sample.values = { n: "", fraction: 0.5, seed: 3, complement: false };
    const map = newStep(op("map_labels"));
    map.values = { column: null, mapping: "a=1\nb = two" };
    const { steps, errors } = buildSteps([drop, filter, within, sample, map], ops);
    expect(errors).toEqual({});
    expect(steps).toEqual([
      { op: "dropna" },
      { op: "filter", column: "area", operator: ">", value: 40 },
      { op: "filter", column: "city", operator: "in", value: ["Oslo", "Bergen"] },
      { op: "sample", fraction: 0.5, seed: 3 },
      { op: "map_labels", mapping: { a: 1, b: "two" } },
    ]);
  });

  it("reports required fields and bad mappings by their API path", () => {
    const cast = newStep(op("cast"));
    const map = newStep(op("map_labels"));
    map.values = { mapping: "nonsense" };
    const { errors } = buildSteps([cast, map], ops);
    expect(errors["spec.steps[0].columns"]).toBe("This field is required.");
    expect(errors["spec.steps[0].to"]).toBe("This field is required.");
    expect(errors["spec.steps[1].mapping"]).toMatch(/old=new/);
  });
});

describe("parsing", () => {
  it("parses values and mappings", () => {
    expect(parseValue("40")).toBe(40);
    expect(parseValue("true")).toBe(true);
    expect(parseValue('"40"')).toBe("40");
    expect(parseValue("Oslo")).toBe("Oslo");
    expect(parseMapping('{"x": 1}')).toEqual({ x: 1 });
    expect(parseMapping("x=1, y=z")).toEqual({ x: 1, y: "z" });
    expect(() => parseMapping("[1]")).toThrow();
  });
  it("finds the step an API error names", () => {
    expect(stepErrorTarget("spec.steps[1].column")).toEqual({ index: 1, field: "column" });
    expect(stepErrorTarget("spec.steps[12]")).toEqual({ index: 12, field: "" });
    expect(stepErrorTarget("spec.dataset_version")).toBeNull();
  });
  it("labels fields", () => {
    expect(labelOf("map_labels")).toBe("Map labels");
  });
});
