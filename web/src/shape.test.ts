import { describe, expect, it } from "vitest";
import {
  alignSeries,
  appendPage,
  binned,
  bytes,
  change,
  chartBars,
  chartLines,
  chartPoints,
  confusionGrid,
  fileChanges,
  lastOfEachKey,
  latest,
  mediaCell,
  mediaKind,
  namedIds,
  metricKeys,
  readable,
  stageHolders,
  tableCells,
  versionLabel,
  versionRows,
  when,
  type Link,
} from "./shape";

const link = (index: number, stages: string[] = [], extra: Partial<Link> = {}): Link => ({
  id: `lnk_${index}`,
  index,
  semver: null,
  aliases: [],
  stages,
  linkedAt: "2026-12-01T10:00:00Z",
  deregistered: false,
  ...extra,
});

describe("stageHolders", () => {
  it("names the newest live holder of each stage, and none where no version holds it", () => {
    const links = [link(0, ["staging"]), link(1, ["staging", "production"]), link(2, ["staging"], { deregistered: true })];
    expect(stageHolders(["staging", "production", "archived"], links)).toEqual({
      staging: "v1",
      production: "v1",
      archived: "",
    });
  });
});

describe("latest and versionLabel", () => {
  it("skips deregistered links and shows the semver beside the index", () => {
    const newest = latest([link(0), link(3, [], { deregistered: true }), link(2, [], { semver: "1.2.0" })]);
    expect(newest?.index).toBe(2);
    expect(versionLabel(newest!)).toBe("v2 · 1.2.0");
    expect(latest([])).toBeUndefined();
  });
});

describe("versionRows", () => {
  it("adds the named versions below the newest, once each, and marks where versions go unshown", () => {
    const shown = [link(9), link(8), link(7)];
    const named = [link(9, [], { aliases: [{ name: "latest" }] }), link(8, ["staging"]), link(6), link(2, ["production"])];
    const rows = versionRows(shown, named);
    expect(rows.map((r) => [r.link.index, r.gapBefore])).toEqual([
      [9, false],
      [8, false],
      [7, false],
      [6, false],
      [2, true],
    ]);
    expect(rows[0].link).toBe(shown[0]); // the shown row, not the named copy
    expect(versionRows([], [])).toEqual([]);
  });
});

describe("change", () => {
  it("says what the event is about, then the fields that differ, before → after", () => {
    expect(change({ before: { holder: "v1", stage: "production" }, after: { holder: "v2", stage: "production" } })).toBe(
      "stage: production; holder: v1 → v2",
    );
    // an alias.set names its alias, though the alias is the same before and after
    expect(change({ before: { alias: "prod", link: null }, after: { alias: "prod", link: "lnk_2" } }, new Map([["lnk_2", "m/c:v2"]]))).toBe(
      "alias: prod; link: — → m/c:v2",
    );
    expect(change({ before: {}, after: { semver: "1.0.0" } })).toBe("semver: — → 1.0.0");
    expect(change({ before: null, after: [1] })).toBe("");
  });
  it("reads as a person would: empty is empty, lists joined, an alias on no link left out", () => {
    expect(change({ before: { aliases: {} }, after: { aliases: [] } })).toBe("");
    expect(change({ before: { aliases: { prod: null } }, after: { aliases: ["prod", "best"] } })).toBe(
      "aliases: — → prod, best",
    );
    expect(change({ before: { aliases: { prod: "lnk_1" } }, after: { aliases: [] } })).toBe(
      "aliases: prod=lnk_1 → —",
    );
    // a new link taking an alias from an older one: where it came from, by name
    const names = new Map([["lnk_1", "m/c:v0"]]);
    expect(change({ before: { aliases: { prod: "lnk_1", best: null } }, after: { aliases: ["prod", "best"] } }, names)).toBe(
      "aliases: — → prod (from m/c:v0), best",
    );
    expect(change({ before: { aliases: { prod: "lnk_1", old: "lnk_1" } }, after: { aliases: ["prod"] } }, names)).toBe(
      "aliases: old=m/c:v0 → prod (from m/c:v0)",
    );
  });
  it("says when the server withheld what changed", () => {
    expect(change({ before: {}, after: {}, withheld: true })).toBe(
      "details withheld: it is also about something you may not read",
    );
  });
});

describe("when", () => {
  it("shows UTC minutes, and leaves what is not a time alone", () => {
    expect(when("2026-12-02T14:05:09.123Z")).toBe("2026-12-02 14:05 UTC");
    expect(when("yesterday")).toBe("yesterday");
  });
});

describe("metricKeys", () => {
  it("takes the numeric summary keys of all runs, diverged values too", () => {
    expect(metricKeys([{ acc: 0.9, note: "x" }, { loss: "NaN", acc: 0.8 }])).toEqual(["acc", "loss"]);
    expect(metricKeys([null, "x"])).toEqual([]);
  });
});

describe("alignSeries", () => {
  it("puts runs on one step axis, with gaps where a run has no point", () => {
    expect(
      alignSeries([
        [{ step: 0, value: 1 }, { step: 2, value: 3 }],
        [{ step: 1, value: 5 }, { step: 2, value: "NaN" }],
      ]),
    ).toEqual([
      [0, 1, 2],
      [1, null, 3],
      [null, 5, null],
    ]);
  });
});

describe("bytes", () => {
  it("reads as people read sizes", () => {
    expect(bytes(512)).toBe("512 B");
    expect(bytes(1_234_567)).toBe("1.2 MB");
  });
});

describe("media on a version page", () => {
  const file = (path: string, contentType = "application/json") => ({ path, contentType, size: 1 });

  it("knows logged media by suffix or by type", () => {
    expect(mediaKind(file("preds/3.table.json"))).toBe("table");
    expect(mediaKind(file("cm/0.chart.json"))).toBe("chart");
    expect(mediaKind(file("w/1.histogram.json"))).toBe("histogram");
    expect(mediaKind(file("a.apng", "image/apng"))).toBe("image");
    expect(mediaKind(file("s.wav", "audio/wav"))).toBe("audio");
    expect(mediaKind(file("c.mp4", "video/mp4"))).toBe("video");
    expect(mediaKind(file("r.html", "text/html"))).toBe("html");
    expect(mediaKind(file("model.bin", "application/octet-stream"))).toBeNull();
    expect(mediaKind(file("config.json"))).toBeNull();
  });

  it("knows a table's media cells, and where each cell's file is", () => {
    const paths = ["preds/3.table.json", "preds/3.table/0_0.png", "preds/3.table/1_2.wav", "preds/3/0.png", "t.table.json", "t.table/0_0.html"];
    expect([...tableCells(paths)]).toEqual(["preds/3.table/0_0.png", "preds/3.table/1_2.wav", "t.table/0_0.html"]);
    expect(tableCells(["x.table/0_0.png"]).size).toBe(0); // no table beside it: a file of its own
    const image = { _type: "image-file", path: "3.table/0_0.png", format: "png", width: 2, height: 1 };
    expect(mediaCell(image, "preds/3.table.json")).toEqual({ kind: "image", path: "preds/3.table/0_0.png" });
    expect(mediaCell({ _type: "html-file", path: "t.table/0_0.html" }, "t.table.json")).toEqual({ kind: "html", path: "t.table/0_0.html" });
    expect(mediaCell({ _type: "image-file", path: "../../secret.png" }, "preds/3.table.json")).toBeNull();
    expect(mediaCell({ _type: "table-file", path: "x.table.json" }, "t.table.json")).toBeNull();
    expect(mediaCell({ _type: "constructor", path: "0_0.png" }, "t.table.json")).toBeNull();
    expect(mediaCell("cat", "t.table.json")).toBeNull();
    expect(mediaCell(null, "t.table.json")).toBeNull();
  });

  it("keeps each key's latest step, and every file not named by a step, in natural order", () => {
    const files = [
      "preds/2.table.json",
      "preds/10.table.json",
      "val/loss/1.chart.json",
      "samples/3_0.table.json",
      "samples/3_1.table.json",
      "samples/1_0.table.json",
      "top.table.json",
      "scores.table.json",
    ].map((p) => file(p));
    expect(lastOfEachKey(files).map((f) => f.path)).toEqual([
      "preds/10.table.json",
      "samples/3_0.table.json",
      "samples/3_1.table.json",
      "scores.table.json",
      "top.table.json",
      "val/loss/1.chart.json",
    ]);
  });

  it("draws a PR curve per class on its x values, and a confusion matrix as a grid", () => {
    const pr = {
      chart: "pr_curve",
      title: "",
      fields: { x: "recall", y: "precision", class: "class" },
      columns: ["class", "recall", "precision"],
      data: [["cat", 0, 1], ["cat", 1, 0.5], ["dog", 0, 1], ["dog", 0.5, 0.8]],
    };
    expect(chartPoints(pr)).toEqual({
      x: "recall",
      y: "precision",
      series: [
        { name: "cat", points: [[0, 1], [1, 0.5]] },
        { name: "dog", points: [[0, 1], [0.5, 0.8]] },
      ],
      joined: true,
    });
    const losses = { chart: "line_series", title: "", fields: { step: "step", lineKey: "lineKey", lineVal: "lineVal" } };
    const series = { ...losses, columns: ["lineKey", "lineVal", "step"], data: [["a", 1, 0], ["a", 2, 1], ["b", 3, 1]] };
    expect(chartLines(series)).toEqual({ x: "step", names: ["a", "b"], data: [[0, 1], [1, 2], [null, 3]] });
    expect(chartLines({ ...pr, chart: "bar" })).toBeNull();
    const cm = {
      chart: "confusion_matrix",
      title: "",
      fields: { Actual: "Actual", Predicted: "Predicted", nPredictions: "nPredictions" },
      columns: ["Actual", "Predicted", "nPredictions"],
      data: [["a", "a", 3], ["a", "b", 1], ["b", "a", 0], ["b", "b", 2]],
    };
    expect(confusionGrid(cm)).toEqual({ classes: ["a", "b"], counts: [[3, 1], [0, 2]] });
  });
});

describe("readable", () => {
  it("names logged media by kind and file, and shows other values as they are", () => {
    const image = { _type: "image-file", path: "val/3_0.png", width: 6, artifact: "p/run-1-media:v0" };
    expect(readable(image)).toBe("image-file val/3_0.png");
    expect(readable([image, { ...image, path: "val/3_1.png" }])).toBe("image-file val/3_0.png, image-file val/3_1.png");
    expect(readable("adam")).toBe("adam");
    expect(readable(0.123456789)).toBe("0.123456789");
    expect(readable({ min: 1, max: 3 })).toBe('{"min":1,"max":3}');
  });
});

describe("fileChanges", () => {
  it("names the files added, removed and changed by content, in path order", () => {
    const f = (path: string, sha256: string, size = 1) => ({ path, sha256, size });
    expect(fileChanges([f("b", "1"), f("a", "1"), f("c", "3")], [f("c", "3"), f("b", "2", 2), f("d", "4")])).toEqual([
      { path: "a", change: "removed", before: 1, after: null },
      { path: "b", change: "changed", before: 1, after: 2 },
      { path: "d", change: "added", before: null, after: 1 },
    ]);
    expect(fileChanges([f("a", "1")], [f("a", "1")])).toEqual([]);
  });
});

describe("chartBars", () => {
  it("gives a bar chart's labels and numeric values, and nothing for other charts", () => {
    const bars = {
      chart: "bar",
      title: "",
      fields: { label: "feature", value: "gain" },
      columns: ["feature", "gain"],
      data: [["age", 0.7], ["income", "n/a"], ["zip", 0.1]],
    };
    expect(chartBars(bars)).toEqual([
      { label: "age", value: 0.7 },
      { label: "zip", value: 0.1 },
    ]);
    expect(chartBars({ ...bars, chart: "line" })).toBeNull();
  });
});

describe("binned", () => {
  it("counts numbers in equal bins from the least to the greatest, leaving out what is not finite", () => {
    expect(binned([1, 2, 2, 3, 3, 3, Number.NaN], 2)).toEqual({ counts: [1, 5], edges: [1, 2, 3] });
    expect(binned([5, 5], 4)).toEqual({ counts: [2, 0, 0, 0], edges: [5, 6, 7, 8, 9] });
    expect(binned([])).toEqual({ counts: [], edges: [] });
  });
});

describe("chartPoints", () => {
  it("keeps every point of a scatter chart and of a curve's vertical steps", () => {
    const scatter = {
      chart: "scatter",
      title: "",
      fields: { x: "h", y: "w" },
      columns: ["h", "w"],
      data: [[1, 2], [1, 3], ["?", 4]],
    };
    expect(chartPoints(scatter)).toEqual({ x: "h", y: "w", series: [{ name: "w", points: [[1, 2], [1, 3]] }], joined: false });
    const roc = {
      chart: "roc_curve",
      title: "",
      fields: { x: "fpr", y: "tpr", class: "class" },
      columns: ["class", "fpr", "tpr"],
      data: [["1", 0, 0], ["1", 0, 0.5], ["1", 0, 1], ["1", 1, 1]],
    };
    expect(chartPoints(roc)?.series[0].points).toEqual([[0, 0], [0, 0.5], [0, 1], [1, 1]]);
    expect(chartPoints({ ...scatter, chart: "line" })).toBeNull();
  });
});

describe("namedIds and names in a change", () => {
  const ver = "ver_6e6ed56c5a706f845c0b0b54";
  const lnk = "lnk_10e2be47b37b66cbe8e8d609";
  it("finds the ids an event names, at any depth, once", () => {
    expect(namedIds([{ before: { latest: lnk }, after: { latest: lnk, version: ver, aliases: { prod: lnk } } }])).toEqual([
      lnk,
      ver,
    ]);
    expect(namedIds([{ before: { name: "ver_1" }, after: ["lnk_not-an-id"] }])).toEqual([]);
  });
  it("reads an id by the name the server gave it, and leaves the others as they are", () => {
    const names = new Map([[ver, "fraud/clf:v2"]]);
    expect(change({ before: {}, after: { version: ver, latest: lnk } }, names)).toBe(
      `latest: — → ${lnk}; version: — → fraud/clf:v2`,
    );
  });
});

describe("appendPage", () => {
  it("keeps the pages shown and adds the next one, with the latest page's cursor", () => {
    const prev = { registry: { name: "model" }, collections: { nodes: [1, 2], pageInfo: { hasNextPage: true, endCursor: "b" } } };
    const next = { registry: { name: "model" }, collections: { nodes: [3], pageInfo: { hasNextPage: false, endCursor: "c" } } };
    const merged = appendPage("collections")(prev, { fetchMoreResult: next });
    expect(merged.collections.nodes).toEqual([1, 2, 3]);
    expect(merged.collections.pageInfo).toEqual({ hasNextPage: false, endCursor: "c" });
    expect(merged.registry).toEqual({ name: "model" });
    expect(prev.collections.nodes).toEqual([1, 2]); // the answer shown is not changed in place
  });
});
