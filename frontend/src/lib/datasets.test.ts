import { describe, expect, it } from "vitest";
import {
  delimiterField,
  diffVersions,
  formatBytes,
  formatChange,
  formatStat,
  hasSampleColumns,
  histogramBars,
  lineageGraph,
  naValuesField,
  previewPage,
  rowsReadable,
  schemaColumns,
  versionDownload,
} from "./datasets";

describe("restricted data sets and downloads", () => {
  it("shows a restricted data set's rows to maintainers and admins only", () => {
    expect(rowsReadable("restricted", false)).toBe(false);
    expect(rowsReadable("restricted", true)).toBe(true);
    expect(rowsReadable("internal", false)).toBe(true);
    expect(rowsReadable(undefined, false)).toBe(true);
  });

  it("links the safe CSV export, or the original file for images", () => {
    const tabular = { id: "v1", format: "csv", schema: { columns: [{ name: "x", dtype: "float64" }] } };
    expect(versionDownload(tabular).href).toBe("/api/v1/dataset-versions/v1/export/");
    expect(versionDownload(tabular).label).toBe("Download CSV");
    const flatNpz = { id: "v2", format: "npz", schema: { columns: [{ name: "x", dtype: "float64", shape: [4] }] } };
    expect(versionDownload(flatNpz).href).toBe("/api/v1/dataset-versions/v2/export/");
    const images = { id: "v3", format: "npz", schema: { columns: [{ name: "x", dtype: "float64", shape: [4, 8, 8] }] } };
    expect(hasSampleColumns(images.schema)).toBe(true);
    expect(versionDownload(images)).toMatchObject({ href: "/api/v1/dataset-versions/v3/download/", label: "Download NPZ" });
    expect(hasSampleColumns(null)).toBe(false);
  });
});

describe("formatting", () => {
  it("formats bytes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(25 * 1024 * 1024)).toBe("25 MB");
    expect(formatBytes(undefined)).toBe("—");
  });
  it("formats statistics", () => {
    expect(formatStat(1900)).toBe("1,900");
    expect(formatStat(90.6584)).toBe("90.66");
    expect(formatStat(12345670.5)).toBe("12,345,671");
    expect(formatStat(2.5e-5)).toBe("2.500e-5");
    expect(formatStat(null)).toBe("—");
    expect(formatStat(0)).toBe("0");
  });
  it("formats a change", () => {
    expect(formatChange(0, 0)).toBe("no change");
    expect(formatChange(12, 2.4)).toBe("+12 (+2.4%)");
    expect(formatChange(-300, -60)).toBe("−300 (−60%)");
    expect(formatChange(5, null)).toBe("+5");
  });
});

describe("schema", () => {
  it("reads columns from an untyped schema", () => {
    expect(schemaColumns(null)).toEqual([]);
    expect(schemaColumns({ columns: "x" })).toEqual([]);
    expect(schemaColumns({ columns: [{ name: "a", dtype: "int64", missing: 2 }, { bad: 1 }, { name: "b" }] })).toEqual([
      { name: "a", dtype: "int64", missing: 2 },
      { name: "b", dtype: "unknown", missing: undefined },
    ]);
  });

  it("diffs two versions", () => {
    const a = { num_rows: 500, schema: { columns: [{ name: "x", dtype: "int64" }, { name: "y", dtype: "string" }, { name: "z", dtype: "float64" }] } };
    const b = { num_rows: 450, schema: { columns: [{ name: "x", dtype: "float64" }, { name: "z", dtype: "float64" }, { name: "w", dtype: "string" }] } };
    const d = diffVersions(a, b);
    expect(d.added.map((c) => c.name)).toEqual(["w"]);
    expect(d.removed.map((c) => c.name)).toEqual(["y"]);
    expect(d.changed).toEqual([{ name: "x", from: "int64", to: "float64" }]);
    expect(d.unchanged).toBe(1);
    expect(d.rows).toEqual({ from: 500, to: 450, change: -50, percent: -10 });
    expect(diffVersions({ num_rows: 0, schema: {} }, { num_rows: 3, schema: {} }).rows.percent).toBeNull();
  });
});

describe("previewPage", () => {
  it("snaps the offset to the page grid and inside the table", () => {
    expect(previewPage(undefined, 50, 500)).toMatchObject({ offset: 0, page: 1, pages: 10, first: 1, last: 50 });
    expect(previewPage(73, 50, 500)).toMatchObject({ offset: 50, page: 2, first: 51, last: 100 });
    expect(previewPage(10_000, 50, 120)).toMatchObject({ offset: 100, page: 3, pages: 3, first: 101, last: 120 });
    expect(previewPage(-5, 50, 120).offset).toBe(0);
    expect(previewPage(0, 50, 0)).toMatchObject({ offset: 0, pages: 1, first: 0, last: 0 });
  });
});

describe("histogramBars", () => {
  it("scales bars to the tallest and keeps small counts visible", () => {
    const bars = histogramBars({ edges: [0, 1, 2, 3], counts: [1, 0, 1000] }, 30, 20);
    expect(bars).toHaveLength(3);
    expect(bars[2].height).toBe(20);
    expect(bars[0].height).toBe(1);
    expect(bars[1].height).toBe(0);
    expect(bars[1].x).toBe(10);
    expect(bars[2]).toMatchObject({ from: 2, to: 3, count: 1000, y: 0 });
  });
  it("handles empty histograms", () => {
    expect(histogramBars({ edges: [], counts: [] }, 30, 20)).toEqual([]);
    expect(histogramBars({ edges: [1, 1], counts: [0] }, 30, 20)[0].height).toBe(0);
  });
});

describe("lineageGraph", () => {
  it("links parents, the version, children and models", () => {
    const v = (id: string, version: number, source = "upload") => ({ id, dataset: "ds", dataset_name: "houses", version, source, sha256: "" });
    const { nodes, edges } = lineageGraph({
      version: v("b", 2, "process"),
      parents: [v("a", 1)],
      children: [v("c", 3, "process")],
      models: [{ id: "mv", model: "m1", model_name: "price", version: 4 }],
    });
    expect(nodes.map((n) => n.id)).toEqual(["d:b", "d:a", "d:c", "m:mv"]);
    expect(nodes[0].highlight).toBe(true);
    expect(nodes[1].href).toBe("/datasets/ds?version=1");
    expect(nodes[3].href).toBe("/models/m1?version=4");
    expect(edges).toEqual([
      { source: "d:a", target: "d:b" },
      { source: "d:b", target: "d:c", label: "processed" },
      { source: "d:b", target: "m:mv", label: "trained" },
    ]);
  });
});

describe("upload fields", () => {
  it("turns comma lists into the JSON na_values takes", () => {
    expect(naValuesField("")).toBe("");
    expect(naValuesField(" -, ?,, missing ")).toBe('["-","?","missing"]');
    expect(naValuesField("[]")).toBe("[]");
  });
  it("reads \\t as a tab", () => {
    expect(delimiterField("\\t")).toBe("\t");
    expect(delimiterField(";")).toBe(";");
  });
});
