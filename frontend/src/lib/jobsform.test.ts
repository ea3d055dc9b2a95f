import { describe, expect, it } from "vitest";
import { hasErrors, parseResources, splitErrors } from "./jobsform";

describe("splitErrors", () => {
  it("maps spec paths to rjsf extraErrors", () => {
    const out = splitErrors({
      "spec.hyperparameters.lr": ["Must be positive."],
      "spec.features.1": ["Unknown column."],
      "spec.architecture": ["Unknown architecture.", "Another."],
      spec: ["Bad spec."],
    });
    expect(out.spec).toEqual({
      __errors: ["Bad spec."],
      hyperparameters: { lr: { __errors: ["Must be positive."] } },
      features: { 1: { __errors: ["Unknown column."] } },
      architecture: { __errors: ["Unknown architecture.", "Another."] },
    });
    expect(out.fields).toEqual({});
    expect(out.other).toEqual([]);
  });
  it("keeps job fields and the rest apart", () => {
    const out = splitErrors({
      priority: ["Too high."],
      "resources.pool": ["No such pool."],
      non_field_errors: ["Quota reached."],
      weird: "x",
    });
    expect(out.fields).toEqual({ priority: ["Too high."], resources: ["pool: No such pool."] });
    expect(out.other).toEqual(["Quota reached.", "weird: x"]);
    expect(hasErrors(out.spec)).toBe(false);
  });
  it("merges a parent and a child error", () => {
    const out = splitErrors({ "spec.a": ["A."], "spec.a.b": ["B."] });
    expect(out.spec).toEqual({ a: { __errors: ["A."], b: { __errors: ["B."] } } });
    expect(hasErrors(out.spec)).toBe(true);
  });
  it("copes with nothing", () => {
    expect(splitErrors(undefined)).toEqual({ spec: {}, fields: {}, other: [] });
  });
});

describe("parseResources", () => {
  it("reads a JSON object or blank", () => {
    expect(parseResources("")).toEqual({});
    expect(parseResources('{"pool": "gpu"}')).toEqual({ value: { pool: "gpu" } });
    expect(parseResources("[1]").error).toMatch(/object/);
    expect(parseResources("{").error).toMatch(/JSON/);
  });
});

import { specOf, uiSchemaFor } from "./jobsform";

describe("uiSchemaFor", () => {
  it("puts pickers on id fields", () => {
    const schema = {
      properties: {
        dataset_version: { type: "string", format: "uuid" },
        model: { type: "string", minLength: 1 },
        model_version: { type: "string", format: "uuid" },
        split: { enum: ["train", "test"] },
      },
    };
    expect(uiSchemaFor(schema)).toEqual({
      "ui:options": { label: false },
      dataset_version: { "ui:widget": "datasetVersion" },
      model: { "ui:widget": "modelName" },
      model_version: { "ui:widget": "modelVersion" },
    });
    expect(uiSchemaFor({ properties: { model: { type: "string", format: "uuid" } } })).toEqual({
      "ui:options": { label: false },
      model: { "ui:widget": "modelId" },
    });
    expect(uiSchemaFor(undefined)).toEqual({ "ui:options": { label: false } });
  });
  it("shows defaults as hints, one level down too", () => {
    const schema = {
      properties: {
        hyperparameters: {
          type: ["object", "null"],
          properties: { lr: { type: "number", default: 0.001 }, epochs: { type: "integer" } },
        },
        split: { type: "object", properties: { stratify: { type: "boolean", default: true } } },
        architecture: { enum: ["mlp", null], default: null },
      },
    };
    expect(uiSchemaFor(schema)).toEqual({
      "ui:options": { label: false },
      hyperparameters: { lr: { "ui:placeholder": "default: 0.001" } },
      split: { stratify: { "ui:help": "Default: true" } },
    });
  });
});

describe("specOf", () => {
  it("copies a job's spec", () => {
    const job = { spec: { a: { b: 1 } } };
    const copy = specOf(job);
    expect(copy).toEqual({ a: { b: 1 } });
    (copy.a as { b: number }).b = 2;
    expect((job.spec.a as { b: number }).b).toBe(1);
    expect(specOf({ spec: null })).toEqual({});
    expect(specOf(undefined)).toEqual({});
  });
  it("drops keys the schema does not allow", () => {
    const schema = { additionalProperties: false, properties: { model: {}, lr: {} } };
    expect(specOf({ spec: { model: "m", model_name: "x", lr: 1 } }, schema)).toEqual({ model: "m", lr: 1 });
    expect(specOf({ spec: { model: "m", extra: 1 } }, { properties: { model: {} } })).toEqual({ model: "m", extra: 1 });
    expect(specOf({ spec: { model: null, model_name: "digits" } }, schema)).toEqual({ model: "digits" });
  });
});

import { withDefaultTypes } from "./jobsform";

describe("withDefaultTypes", () => {
  it("types properties that only have a default, deep in allOf/then", () => {
    const schema = {
      allOf: [{ then: { properties: { options: { properties: { hidden: { default: [128, 64] }, dropout: { default: 0.1 }, n: { default: 3 }, x: { enum: [1] } } } } } }],
    };
    expect(withDefaultTypes(schema)).toEqual({
      allOf: [
        {
          then: {
            properties: {
              options: {
                properties: {
                  hidden: { type: "array", items: { type: "integer" }, default: [128, 64] },
                  dropout: { type: "number", default: 0.1 },
                  n: { type: "integer", default: 3 },
                  x: { enum: [1] },
                },
              },
            },
          },
        },
      ],
    });
  });
});
