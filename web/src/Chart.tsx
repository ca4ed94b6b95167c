// Lines over a shared x axis (one metric of several runs over steps; a logged chart's curves),
// drawn on a canvas by uPlot (small and fast).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const PALETTE = ["#2851a3", "#b3261e", "#2e7d32", "#8e44ad", "#e67e22", "#16a085", "#7f8c8d"];

export function Chart({
  title,
  names,
  data,
  xLabel = "step",
}: {
  title: string;
  names: string[];
  data: (number | null)[][];
  xLabel?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const plot = new uPlot(
      {
        title,
        width: 460,
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: xLabel }, {}],
        series: [{}, ...names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], spanGaps: true }))],
      },
      data as uPlot.AlignedData,
      box.current,
    );
    return () => plot.destroy();
  }, [title, names, data, xLabel]);
  return <div ref={box} className="chart" role="img" aria-label={`${title}: ${names.join(", ")}`} />;
}
