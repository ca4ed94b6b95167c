// Pure data shaping for the pages: what a row of the dashboard or the model page shows.
// Tested by vitest (shape.test.ts) without a browser.

export interface Link {
  id: string;
  index: number;
  semver: string | null;
  aliases: { name: string }[];
  stages: string[];
  linkedAt: string;
  linkedBy?: string | null;
  deregistered: boolean;
}

export interface EventRow {
  id: string;
  type: string;
  actor: string;
  time: string;
  before: unknown;
  after: unknown;
  withheld?: boolean;
}

/** Which version (vN) holds each stage, in the registry's stage order; "" when none does. */
export function stageHolders(stages: string[], links: Link[]): Record<string, string> {
  const holders: Record<string, string> = {};
  for (const stage of stages) {
    // a stage names its most recently linked holder among the live links
    const holder = links
      .filter((l) => !l.deregistered && l.stages.includes(stage))
      .sort((a, b) => b.index - a.index)[0];
    holders[stage] = holder ? `v${holder.index}` : "";
  }
  return holders;
}

/** The newest live link: the collection's latest version. */
export function latest(links: Link[]): Link | undefined {
  return links.filter((l) => !l.deregistered).sort((a, b) => b.index - a.index)[0];
}

/** A model page's rows: the newest links shown, then the older ones an alias or a stage names
 * (each once), newest first; `gapBefore`: versions lie unshown between this row and the one
 * above it. */
export function versionRows<L extends Pick<Link, "id" | "index">>(
  shown: L[],
  named: L[],
): { link: L; gapBefore: boolean }[] {
  const inWindow = new Set(shown.map((l) => l.id));
  const rows = [...shown, ...named.filter((l) => !inWindow.has(l.id))].sort((a, b) => b.index - a.index);
  return rows.map((link, i) => ({
    link,
    gapBefore: i > 0 && !inWindow.has(link.id) && rows[i - 1].index - link.index > 1,
  }));
}

/** "v3 · 1.2.0" — a link's index and semver, as people name it. */
export function versionLabel(link: Pick<Link, "index" | "semver">): string {
  return link.semver ? `v${link.index} · ${link.semver}` : `v${link.index}`;
}

/** What the server calls its objects: `ver_` and 24 hex digits, and so on. */
const NAMED_ID = /^(ver|lnk|run|col|art|reg|prj)_[0-9a-f]{24}$/;

/** The ids of objects that events name (in their before and after, at any depth), once each,
 * sorted: what to ask the names of. */
export function namedIds(events: Pick<EventRow, "before" | "after">[]): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === "string") {
      if (NAMED_ID.test(value)) found.add(value);
    } else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") Object.values(value).forEach(walk);
  };
  for (const e of events) {
    walk(e.before);
    walk(e.after);
  }
  return [...found].sort();
}

/** What changed in an event, in one line: first what it is about (a field the same before and
 * after, such as the alias an alias.set moved), then "before → after" of the fields that differ
 * (or that the server withheld them: the event is also about something the reader may not
 * read). An id `names` knows reads as its name (fraud/clf:v2 for ver_…). */
export function change(
  event: Pick<EventRow, "before" | "after" | "withheld">,
  names: ReadonlyMap<string, string> = new Map(),
): string {
  if (event.withheld) return "details withheld: it is also about something you may not read";
  const before = asObject(event.before);
  const after = asObject(event.after);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const fields = keys.map((k) => [k, ...shownPair(before[k], after[k], names)]);
  const about = fields
    .filter(([k, then, now]) => k in before && k in after && then === now && now !== "—")
    .map(([k, , now]) => `${k}: ${now}`);
  const changed = fields.filter(([, then, now]) => then !== now).map(([k, then, now]) => `${k}: ${then} → ${now}`);
  return [...about, ...changed].join("; ");
}

/** A field before and after. Where each alias was before ({candidate: lnk_…}) and the aliases
 * a link holds after ([candidate]) read as a move: "— → candidate (from m/c:v0)"; the aliases
 * it lost stay on the left. Any other field: each side as `show` reads it. */
function shownPair(then: unknown, now: unknown, names: ReadonlyMap<string, string>): [string, string] {
  if (!Array.isArray(now) || !then || typeof then !== "object" || Array.isArray(then)) {
    return [show(then, names), show(now, names)];
  }
  const held = then as Record<string, unknown>;
  const lost = Object.fromEntries(Object.entries(held).filter(([k]) => !now.includes(k)));
  const gained = now.map((name) =>
    typeof name === "string" && held[name] != null ? `${name} (from ${show(held[name], names)})` : show(name, names),
  );
  return [show(lost, names), gained.join(", ") || "—"];
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** A value as a person reads it: empty ones (null, [], {}) as "—", lists joined, maps as
 * key=value (an alias that was on no link, {prod: null}, is left out). */
function show(value: unknown, names: ReadonlyMap<string, string>): string {
  if (value === undefined || value === null) return "—";
  if (typeof value === "string") return names.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => show(v, names)).join(", ") || "—";
  if (typeof value === "object") {
    const held = Object.entries(value as Record<string, unknown>).filter(([, v]) => v != null);
    return held.map(([k, v]) => `${k}=${show(v, names)}`).join(", ") || "—";
  }
  return JSON.stringify(value);
}

/** Fetching more of a list read page by page (Apollo's updateQuery): the next page of the
 * connection `field` after the pages shown, and the rest of the answer as the latest page has it. */
export function appendPage<K extends string>(field: K) {
  return <T extends { [k in K]: { nodes: unknown[] } }>(prev: T, { fetchMoreResult }: { fetchMoreResult: T }): T => ({
    ...fetchMoreResult,
    [field]: { ...fetchMoreResult[field], nodes: [...prev[field].nodes, ...fetchMoreResult[field].nodes] },
  });
}

/** A time as a person reads it here: "2026-12-02 14:05 UTC". */
export function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Numeric summary values only (metrics), by key, across runs: the keys worth charting. */
export function metricKeys(summaries: unknown[], most = 6): string[] {
  const keys = new Set<string>();
  for (const summary of summaries) {
    for (const [key, value] of Object.entries(asObject(summary))) {
      if (typeof value === "number" || value === "NaN" || value === "Infinity" || value === "-Infinity") keys.add(key);
    }
  }
  return [...keys].sort().slice(0, most);
}

/** Several runs' series of one metric on one shared step axis, as a chart wants them:
 * [steps, run1 values, run2 values, ...], null where a run has no point at a step. */
export function alignSeries(series: { step: number; value: number | string }[][]): (number | null)[][] {
  const steps = [...new Set(series.flatMap((points) => points.map((p) => p.step)))].sort((a, b) => a - b);
  const at = series.map((points) => new Map(points.map((p) => [p.step, numeric(p.value)])));
  return [steps, ...at.map((values) => steps.map((s) => values.get(s) ?? null))];
}

function numeric(value: number | string): number | null {
  if (typeof value === "number") return value;
  return null; // NaN and the infinities are data, but a chart cannot place them
}

/** "1.2 MB": a size as people read it. */
export function bytes(size: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** What a version's file shows as on its page, if anything: by its type, or by the suffix
 * the SDK gives logged media (`preds/3.table.json`). */
export type MediaKind = "image" | "audio" | "video" | "html" | "table" | "chart" | "histogram";

export function mediaKind(file: { path: string; contentType: string }): MediaKind | null {
  if (file.path.endsWith(".table.json")) return "table";
  if (file.path.endsWith(".chart.json")) return "chart";
  if (file.path.endsWith(".histogram.json")) return "histogram";
  const [major] = file.contentType.split("/");
  if (major === "image" || major === "audio" || major === "video") return major; // an <img> runs no SVG's script
  if (file.contentType === "text/html") return "html";
  return null;
}

/** The paths among `paths` that are a table's media cells: files in the folder beside a
 * table file, named as it is without .json (preds/3.table.json: preds/3.table/0_0.png).
 * They are shown in their table's cells, not as media of their own. */
export function tableCells(paths: string[]): Set<string> {
  const tables = new Set(paths.filter((p) => p.endsWith(".table.json")).map((p) => p.slice(0, -".json".length)));
  const inTable = (path: string) => {
    for (let at = path.indexOf("/"); at > 0; at = path.indexOf("/", at + 1)) if (tables.has(path.slice(0, at))) return true;
    return false;
  };
  return new Set(paths.filter(inTable));
}

const CELL_KINDS = new Map([
  ["image-file", "image"],
  ["audio-file", "audio"],
  ["video-file", "video"],
  ["html-file", "html"],
] as const);

/** A media cell of a table (what the SDK writes for an Image, Audio, Video or Html in a
 * cell): its kind, and its file's path in the version (the cell names it from the table's
 * folder). Null for any other value. */
export function mediaCell(value: unknown, tablePath: string): { kind: "image" | "audio" | "video" | "html"; path: string } | null {
  if (typeof value !== "object" || value === null) return null;
  const { _type: type, path } = value as { _type?: unknown; path?: unknown };
  const kind = CELL_KINDS.get(type as "image-file");
  if (!kind || typeof path !== "string" || path.split("/").includes("..")) return null;
  return { kind, path: tablePath.slice(0, tablePath.lastIndexOf("/") + 1) + path };
}

/** Paths in natural order: a run's media by step (2_0.png before 10_0.png). */
export function naturalOrder<T extends { path: string }>(files: T[]): T[] {
  return [...files].sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
}

// A logged media file's name: its step, and its place in a list logged at once (3_0.png)
const STEP_NAME = /^(\d+)(?:_\d+)?\./;

/** Each logged key's latest step (the files named by step in a folder: the highest step's),
 * and every file not named by a step, in natural order. */
export function lastOfEachKey<T extends { path: string }>(files: T[]): T[] {
  const place = (file: T) => {
    const cut = file.path.lastIndexOf("/") + 1;
    const step = STEP_NAME.exec(file.path.slice(cut));
    return { folder: file.path.slice(0, cut), step: step ? Number(step[1]) : null };
  };
  const latest = new Map<string, number>();
  for (const file of files) {
    const { folder, step } = place(file);
    if (step !== null) latest.set(folder, Math.max(latest.get(folder) ?? step, step));
  }
  return naturalOrder(files).filter((file) => {
    const { folder, step } = place(file);
    return step === null || step === latest.get(folder);
  });
}

/** A chart file of the SDK's (forebear.plot): its kind, the columns it draws, its rows. */
export interface ChartFile {
  chart: string;
  title: string;
  fields: Record<string, string>;
  xname?: string;
  columns: string[];
  data: unknown[][];
}

/** A line chart's series (line, line_series), aligned on its x values, or null for other
 * charts. */
export function chartLines(c: ChartFile): { x: string; names: string[]; data: (number | null)[][] } | null {
  const col = (role: string) => c.columns.indexOf(c.fields[role] ?? "");
  const roles: Record<string, [string, string, string | null]> = {
    line: ["x", "y", "stroke"],
    line_series: ["step", "lineVal", "lineKey"],
  };
  const picked = roles[c.chart];
  if (!picked) return null;
  const [x, y, by] = [col(picked[0]), col(picked[1]), picked[2] ? col(picked[2]) : -1];
  if (x < 0 || y < 0) return null;
  const groups = new Map<string, { step: number; value: number | string }[]>();
  for (const row of c.data) {
    const name = by >= 0 ? String(row[by]) : c.columns[y];
    const [at, value] = [row[x], row[y]];
    if (typeof at !== "number" || typeof value !== "number") continue;
    groups.set(name, [...(groups.get(name) ?? []), { step: at, value }]);
  }
  return {
    x: c.xname ?? c.columns[x],
    names: [...groups.keys()],
    data: alignSeries([...groups.values()]),
  };
}

export interface PointSeries {
  x: string;
  y: string;
  series: { name: string; points: [number, number][] }[];
  joined: boolean; // a curve (points joined in row order) or a scatter (points alone)
}

/** The points of a scatter chart, or of each class's PR or ROC curve in row order: every one,
 * however many share an x (a curve's vertical steps); null for other charts. */
export function chartPoints(c: ChartFile): PointSeries | null {
  if (!["scatter", "pr_curve", "roc_curve"].includes(c.chart)) return null;
  const [x, y] = [c.columns.indexOf(c.fields.x ?? ""), c.columns.indexOf(c.fields.y ?? "")];
  const by = c.columns.indexOf(c.fields.class ?? "");
  if (x < 0 || y < 0) return null;
  const groups = new Map<string, [number, number][]>();
  for (const row of c.data) {
    if (typeof row[x] !== "number" || typeof row[y] !== "number") continue;
    const name = by >= 0 ? String(row[by]) : c.columns[y];
    let points = groups.get(name);
    if (!points) groups.set(name, (points = []));
    points.push([row[x] as number, row[y] as number]); // in place: a long curve is not copied per row
  }
  const series = [...groups].map(([name, points]) => ({ name, points }));
  return { x: c.columns[x], y: c.columns[y], series, joined: c.chart !== "scatter" };
}

/** A confusion matrix's classes and counts (rows: actual, columns: predicted). */
export function confusionGrid(c: ChartFile): { classes: string[]; counts: number[][] } {
  const [a, p, n] = ["Actual", "Predicted", "nPredictions"].map((role) => c.columns.indexOf(c.fields[role] ?? role));
  const classes = [...new Set(c.data.flatMap((row) => [String(row[a]), String(row[p])]))];
  const counts = classes.map(() => classes.map(() => 0));
  for (const row of c.data) counts[classes.indexOf(String(row[a]))][classes.indexOf(String(row[p]))] += Number(row[n]) || 0;
  return { classes, counts };
}

/** A config or summary value as people read it: logged media by kind and file ("image-file
 * val/3_0.png"), text as it is, anything else as JSON. */
export function readable(value: unknown): string {
  const media = (v: unknown) => {
    const o = v as { _type?: unknown; path?: unknown } | null;
    return typeof o?._type === "string" && typeof o.path === "string" ? `${o._type} ${o.path}` : null;
  };
  if (typeof value === "string") return value;
  const one = media(value);
  if (one) return one;
  if (Array.isArray(value) && value.length && value.every(media)) return value.map(media).join(", ");
  return JSON.stringify(value);
}

export interface FileChange {
  path: string;
  change: "added" | "removed" | "changed";
  before: number | null;
  after: number | null;
}

/** What differs between two versions' files, by content, in path order. */
export function fileChanges(
  before: { path: string; size: number; sha256: string }[],
  after: { path: string; size: number; sha256: string }[],
): FileChange[] {
  const was = new Map(before.map((f) => [f.path, f]));
  const now = new Map(after.map((f) => [f.path, f]));
  const paths = [...new Set([...was.keys(), ...now.keys()])].sort();
  const changes: FileChange[] = [];
  for (const path of paths) {
    const [a, b] = [was.get(path), now.get(path)];
    if (a && b && a.sha256 === b.sha256) continue;
    const change = !a ? "added" : !b ? "removed" : "changed";
    changes.push({ path, change, before: a?.size ?? null, after: b?.size ?? null });
  }
  return changes;
}

/** A bar chart's bars (label and value), numbers only, or null for other charts. */
export function chartBars(c: ChartFile): { label: string; value: number }[] | null {
  if (c.chart !== "bar") return null;
  const [label, value] = [c.columns.indexOf(c.fields.label ?? ""), c.columns.indexOf(c.fields.value ?? "")];
  if (label < 0 || value < 0) return null;
  return c.data.flatMap((row) => (typeof row[value] === "number" ? [{ label: String(row[label]), value: row[value] as number }] : []));
}

/** Counts of numbers in `bins` equal bins from their least to their greatest, with the bins'
 * edges (one more than the counts): a histogram chart's bars. */
export function binned(numbers: number[], bins = 20): { counts: number[]; edges: number[] } {
  const finite = numbers.filter(Number.isFinite);
  if (!finite.length) return { counts: [], edges: [] };
  const [low, high] = [Math.min(...finite), Math.max(...finite)];
  const width = (high - low) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const n of finite) counts[Math.min(Math.floor((n - low) / width), bins - 1)] += 1;
  return { counts, edges: counts.map((_, i) => low + i * width).concat(low + bins * width) };
}
