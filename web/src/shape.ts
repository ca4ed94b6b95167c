// Pure data shaping for the pages: what a row of the dashboard or the model page shows.
// Tested by vitest (shape.test.ts) without a browser.

export interface Link {
  id: string;
  index: number;
  semver: string | null;
  aliases: { name: string }[];
  stages: string[];
  linkedAt: string;
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

/** "v3 · 1.2.0" — a link's index and semver, as people name it. */
export function versionLabel(link: Pick<Link, "index" | "semver">): string {
  return link.semver ? `v${link.index} · ${link.semver}` : `v${link.index}`;
}

/** What changed in an event, in one line: "before → after" of the fields that differ (or
 * that the server withheld them: the event is also about something the reader may not read). */
export function change(event: Pick<EventRow, "before" | "after" | "withheld">): string {
  if (event.withheld) return "details withheld: it is also about something you may not read";
  const before = asObject(event.before);
  const after = asObject(event.after);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const parts = keys
    .map((k) => [k, show(before[k]), show(after[k])])
    .filter(([, then, now]) => then !== now)
    .map(([k, then, now]) => `${k}: ${then} → ${now}`);
  return parts.join("; ");
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** A value as a person reads it: empty ones (null, [], {}) as "—", lists joined, maps as
 * key=value (an alias that was on no link, {prod: null}, is left out). */
function show(value: unknown): string {
  if (value === undefined || value === null) return "—";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(show).join(", ") || "—";
  if (typeof value === "object") {
    const held = Object.entries(value as Record<string, unknown>).filter(([, v]) => v != null);
    return held.map(([k, v]) => `${k}=${show(v)}`).join(", ") || "—";
  }
  return JSON.stringify(value);
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
