// A version's media, shown on its page: images, audio, video, HTML pages (sandboxed: no script
// runs), tables, charts (forebear.plot) and histograms, each file fetched with the user's key.
import { useEffect, useState } from "react";
import { apiKey } from "./client";
import { Chart, PALETTE } from "./Chart";
import {
  binned,
  chartBars,
  chartLines,
  chartPoints,
  confusionGrid,
  lastOfEachKey,
  mediaCell,
  mediaKind,
  naturalOrder,
  tableCells,
  type ChartFile,
  type MediaKind,
  type PointSeries,
} from "./shape";
import { Failure, Loading } from "./ui";

export interface FileRow {
  path: string;
  size: number;
  contentType: string;
}

/** A file of a version, fetched with the key (a link or an <img> cannot carry it). */
export async function fetchFile(versionId: string, path: string): Promise<Blob> {
  const response = await fetch(`/files/${versionId}/${path.split("/").map(encodeURIComponent).join("/")}`, {
    headers: { authorization: `Bearer ${apiKey() ?? ""}` },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(body?.error?.message ?? `download failed: ${response.status}`);
  }
  return response.blob();
}

// What the page fetches at once: the first few of each kind, none too large.
const SHOWN_IMAGES = 24;
const SHOWN_OTHERS = 12;
const MOST_BYTES: Record<MediaKind, number> = {
  image: 5 * 2 ** 20,
  audio: 20 * 2 ** 20,
  video: 50 * 2 ** 20,
  html: 2 ** 20,
  table: 2 * 2 ** 20,
  chart: 2 * 2 ** 20,
  histogram: 2 ** 20,
};
const TABLE_ROWS = 20;

/** A fetched file as a blob URL (revoked when no longer shown), or as its text. */
function useFetched(versionId: string, path: string, as: "url" | "text") {
  const [value, setValue] = useState<string | null>(null);
  const [failed, setFailed] = useState<unknown>(null);
  useEffect(() => {
    let made: string | null = null;
    let live = true;
    fetchFile(versionId, path)
      .then(async (blob) => {
        const got = as === "url" ? (made = URL.createObjectURL(blob)) : await blob.text();
        if (live) setValue(got);
        else if (made) URL.revokeObjectURL(made);
      })
      .catch((e) => live && setFailed(e));
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [versionId, path, as]);
  return { value, failed };
}

function Shown({ versionId, file, kind }: { versionId: string; file: FileRow; kind: MediaKind }) {
  const played = kind === "image" || kind === "audio" || kind === "video";
  const { value, failed } = useFetched(versionId, file.path, played ? "url" : "text");
  let body;
  if (failed != null) body = <Failure error={failed} />;
  else if (value == null) body = <Loading what={file.path} />;
  else if (kind === "image") body = <img src={value} alt={file.path} />;
  else if (kind === "audio") body = <audio controls src={value} aria-label={file.path} />;
  else if (kind === "video") body = <video controls src={value} aria-label={file.path} />;
  else if (kind === "html") body = <iframe sandbox="" srcDoc={value} title={file.path} />;
  else body = <Parsed text={value} kind={kind} path={file.path} versionId={versionId} />;
  return (
    <figure className={kind === "image" ? "thumb" : `media ${kind}`}>
      {body}
      <figcaption>{file.path}</figcaption>
    </figure>
  );
}

/** A table, chart or histogram file, drawn from its JSON. */
function Parsed({ text, kind, path, versionId }: { text: string; kind: MediaKind; path: string; versionId: string }) {
  let kept: Record<string, unknown>;
  try {
    kept = JSON.parse(text);
  } catch {
    return <Failure error={new Error(`${path} is not JSON`)} />;
  }
  if (kind === "histogram") return <Bars values={(kept.values as number[]) ?? []} bins={(kept.bins as number[]) ?? []} />;
  if (kind === "chart") return <Drawn chart={kept as unknown as ChartFile} />;
  return <Rows columns={(kept.columns as string[]) ?? []} data={(kept.data as unknown[][]) ?? []} label={path} cells={{ versionId, table: path }} />;
}

/** A table's media cell: its file (kept beside the table's) fetched and shown in the cell. */
function Cell({ versionId, kind, path }: { versionId: string; kind: "image" | "audio" | "video" | "html"; path: string }) {
  const { value, failed } = useFetched(versionId, path, kind === "html" ? "text" : "url");
  if (failed != null) return <Failure error={failed} />;
  if (value == null) return <Loading what={path} />;
  if (kind === "image") return <img src={value} alt={path} />;
  if (kind === "audio") return <audio controls src={value} aria-label={path} />;
  if (kind === "video") return <video controls src={value} aria-label={path} />;
  return <iframe sandbox="" srcDoc={value} title={path} />;
}

function Drawn({ chart }: { chart: ChartFile }) {
  const title = chart.title || chart.chart.replace("_", " ");
  const lines = chartLines(chart);
  // a curve with no numbers to place (text on its x axis, say) is shown as its table
  if (lines?.names.length) return <Chart title={title} names={lines.names} data={lines.data} xLabel={lines.x} />;
  const points = chartPoints(chart);
  if (points?.series.length) return <Points title={title} {...points} />;
  if (chart.chart === "histogram") {
    const at = chart.columns.indexOf(chart.fields.value ?? "");
    const numbers = chart.data.map((row) => row[at]).filter((n): n is number => typeof n === "number");
    if (at >= 0 && numbers.length) {
      const { counts, edges } = binned(numbers);
      return (
        <figure className="chart-figure" aria-label={title}>
          <figcaption>{title}</figcaption>
          <Bars values={counts} bins={edges} />
        </figure>
      );
    }
  }
  const bars = chartBars(chart);
  if (bars?.length) {
    const most = Math.max(...bars.map((b) => Math.abs(b.value))) || 1;
    return (
      <table className="hbars" aria-label={title}>
        <caption>{title}</caption>
        <tbody>
          {bars.slice(0, TABLE_ROWS * 2).map((b, i) => (
            <tr key={i}>
              <th scope="row">{b.label}</th>
              <td>
                <span style={{ width: `${(100 * Math.abs(b.value)) / most}%` }} />
              </td>
              <td>{b.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }
  if (chart.chart === "confusion_matrix") {
    const { classes, counts } = confusionGrid(chart);
    const most = Math.max(1, ...counts.flat());
    return (
      <table className="grid matrix" aria-label={title}>
        <caption>{title} (rows: actual, columns: predicted)</caption>
        <thead>
          <tr>
            <th />
            {classes.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {counts.map((row, a) => (
            <tr key={classes[a]}>
              <th scope="row">{classes[a]}</th>
              {row.map((n, p) => (
                <td key={classes[p]} style={{ background: `rgba(40, 81, 163, ${(0.6 * n) / most})` }}>
                  {n}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    );
  }
  return <Rows columns={chart.columns} data={chart.data} label={title} />;
}

/** Rows under their columns; with `cells` (a table file of a version), its media cells
 * shown as media. */
function Rows({ columns, data, label, cells }: { columns: string[]; data: unknown[][]; label: string; cells?: { versionId: string; table: string } }) {
  return (
    <>
      <table className="grid" aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {data.slice(0, TABLE_ROWS).map((row, i) => (
            <tr key={i}>
              {row.map((cell, j) => {
                const media = cells ? mediaCell(cell, cells.table) : null;
                return (
                  <td key={j} className={media ? `cell ${media.kind}` : undefined}>
                    {media && cells ? <Cell versionId={cells.versionId} {...media} /> : typeof cell === "string" ? cell : JSON.stringify(cell)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {data.length > TABLE_ROWS && (
        <p className="muted">
          The first {TABLE_ROWS} of {data.length} rows.
        </p>
      )}
    </>
  );
}

/** Points on their ranges, in SVG: each series' joined in row order (a curve, its vertical
 * steps kept) or alone (a scatter), a legend and the ranges beneath. */
function Points({ title, x, y, series, joined }: { title: string } & PointSeries) {
  const [W, H, PAD] = [320, 200, 6];
  const all = series.flatMap((s) => s.points);
  const span = (values: number[]) => {
    const [low, high] = [Math.min(...values), Math.max(...values)];
    return [low, high - low || 1] as const;
  };
  const [[x0, dx], [y0, dy]] = [span(all.map((p) => p[0])), span(all.map((p) => p[1]))];
  const at = ([px, py]: [number, number]) => [PAD + ((px - x0) / dx) * (W - 2 * PAD), H - PAD - ((py - y0) / dy) * (H - 2 * PAD)];
  const range = (low: number, width: number) => `${Number(low.toPrecision(4))} to ${Number((low + width).toPrecision(4))}`;
  const what = joined ? `${series.length} curves` : `${all.length} points`;
  return (
    <figure className="chart-figure" aria-label={title}>
      <figcaption>{title}</figcaption>
      <svg width={W} height={H} role="img" aria-label={`${what}, ${y} against ${x}`} className="points">
        {series.map((s, i) =>
          joined ? (
            <polyline key={s.name} fill="none" stroke={PALETTE[i % PALETTE.length]} strokeWidth={2} points={s.points.map((p) => at(p).join(",")).join(" ")} />
          ) : (
            s.points.slice(0, 5000).map((p, j) => {
              const [cx, cy] = at(p);
              return <circle key={`${i}-${j}`} r={3} cx={cx} cy={cy} fill={PALETTE[i % PALETTE.length]} />;
            })
          ),
        )}
      </svg>
      {series.length > 1 && (
        <div className="legend">
          {series.map((s, i) => (
            <span key={s.name} style={{ color: PALETTE[i % PALETTE.length] }}>
              ■ {s.name}
            </span>
          ))}
        </div>
      )}
      <div className="edges muted">
        <span>
          {x}: {range(x0, dx)}
        </span>
        <span>
          {y}: {range(y0, dy)}
        </span>
      </div>
    </figure>
  );
}

/** A histogram's counts as bars, its first and last edges beneath. */
function Bars({ values, bins }: { values: number[]; bins: number[] }) {
  const most = Math.max(1, ...values);
  const edge = (x: number | undefined) => (x === undefined ? "" : Number(x.toPrecision(4)).toString());
  return (
    <div>
      <div className="bars" role="img" aria-label={`${values.length} bins from ${edge(bins[0])} to ${edge(bins[bins.length - 1])}`}>
        {values.map((v, i) => (
          <span key={i} style={{ height: `${(100 * v) / most}%` }} title={`${edge(bins[i])} to ${edge(bins[i + 1])}: ${v}`} />
        ))}
      </div>
      <div className="edges muted">
        <span>{edge(bins[0])}</span>
        <span>{edge(bins[bins.length - 1])}</span>
      </div>
    </div>
  );
}

const SECTIONS: { kinds: MediaKind[]; title: string }[] = [
  { kinds: ["image"], title: "Images" },
  { kinds: ["chart", "table"], title: "Charts and tables" },
  { kinds: ["histogram"], title: "Histograms" },
  { kinds: ["audio", "video"], title: "Audio and video" },
  { kinds: ["html"], title: "Pages" },
];

/** Every kind of media a version holds, a section each, in natural order. Of a run's media
 * (`perKey`), each logged key's latest step: its steps are in the files above. */
export function MediaSections({ versionId, files, perKey }: { versionId: string; files: FileRow[]; perKey: boolean }) {
  const cells = tableCells(files.map((f) => f.path)); // shown in their tables
  const kinds = new Map(files.filter((f) => !cells.has(f.path)).map((f) => [f.path, mediaKind(f)]));
  return (
    <>
      {SECTIONS.map(({ kinds: wanted, title }) => {
        const all = files.filter((f) => {
          const kind = kinds.get(f.path);
          return kind != null && wanted.includes(kind) && f.size <= MOST_BYTES[kind];
        });
        if (!all.length) return null;
        const images = wanted[0] === "image";
        const picked = perKey ? lastOfEachKey(all) : naturalOrder(all);
        const most = images ? SHOWN_IMAGES : SHOWN_OTHERS;
        return (
          <section key={title} aria-label={title}>
            <h2>{title}</h2>
            <div className={images ? "thumbs" : "medias"}>
              {picked.slice(0, most).map((f) => (
                <Shown key={f.path} versionId={versionId} file={f} kind={kinds.get(f.path)!} />
              ))}
            </div>
            {picked.length > most && (
              <p className="muted">
                The first {most} of {picked.length}; the others are in the files above.
              </p>
            )}
            {picked.length < all.length && perKey && <p className="muted">Each logged key's latest step; every step is in the files above.</p>}
          </section>
        );
      })}
    </>
  );
}
