// The lineage graph on a 2D canvas: pan by dragging, zoom with the wheel, click a node to
// select it. A canvas rather than WebGL: where the browser has no GPU (our machines, many
// laptops in remote desktops) WebGL is emulated in software and a frame of 8,000 nodes took
// half a second; a 2D canvas draws it in tens of milliseconds (bench/web.py measures it).
import { useEffect, useRef } from "react";

export interface DrawnNode {
  id: string;
  x: number;
  y: number;
  label: string;
  color: string;
  size: number;
}

interface Camera {
  x: number; // graph coordinate at the canvas's left edge
  y: number; // graph coordinate at the canvas's top edge
  scale: number; // pixels per graph unit
}

const CHAIN = "#e67e22";
const EDGE = "#b9bfcc";

export function GraphCanvas(props: {
  nodes: DrawnNode[];
  edges: [string, string][]; // data flow: from, to
  selected: string | null;
  chain: string[];
  onSelect: (id: string | null) => void;
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const camera = useRef<Camera>({ x: 0, y: 0, scale: 1 });
  const moving = useRef(false);
  const frame = useRef(0);
  const state = useRef(props);
  state.current = props;
  const index = useRef(new Map<string, DrawnNode>()); // nodes by id, made once per graph

  const draw = () => {
    frame.current = 0;
    const el = canvas.current;
    const ctx = el?.getContext("2d");
    if (!el || !ctx) return;
    const { nodes, edges, selected, chain } = state.current;
    const { x: cx, y: cy, scale } = camera.current;
    const ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, el.width, el.height);
    const at = index.current;
    const px = (n: DrawnNode) => (n.x - cx) * scale;
    const py = (n: DrawnNode) => (n.y - cy) * scale;
    const many = nodes.length > 2000;
    const segments = (pairs: Iterable<[string, string]>, width: number, colour: string) => {
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.beginPath();
      for (const [from, to] of pairs) {
        const a = at.get(from);
        const b = at.get(to);
        if (!a || !b) continue;
        ctx.moveTo(px(a), py(a));
        ctx.lineTo(px(b), py(b));
      }
      ctx.stroke();
    };
    if (!(moving.current && many)) {
      segments(edges, 1, EDGE);
      if (!many) {
        // arrowheads: the direction data flows
        ctx.fillStyle = EDGE;
        ctx.beginPath();
        for (const [from, to] of edges) {
          const a = at.get(from);
          const b = at.get(to);
          if (a && b) arrow(ctx, px(a), py(a), px(b), py(b), b.size + 2);
        }
        ctx.fill();
      }
      segments(
        chain.slice(1).map((id, i): [string, string] => [chain[i], id]),
        3,
        CHAIN,
      );
    }
    const onChain = new Set(chain);
    const byColour = new Map<string, DrawnNode[]>();
    for (const n of nodes) {
      const colour = onChain.has(n.id) ? CHAIN : n.color;
      (byColour.get(colour) ?? byColour.set(colour, []).get(colour)!).push(n);
    }
    for (const [colour, group] of byColour) {
      ctx.fillStyle = colour;
      ctx.beginPath();
      for (const n of group) {
        const r = n.size;
        if (many) ctx.rect(px(n) - r, py(n) - r, 2 * r, 2 * r);
        else {
          ctx.moveTo(px(n) + r, py(n));
          ctx.arc(px(n), py(n), r, 0, 2 * Math.PI);
        }
      }
      ctx.fill();
    }
    // labels where there is room for them: few nodes, or zoomed in far enough
    if (!(moving.current && many) && (nodes.length <= 300 || scale > 40)) {
      ctx.fillStyle = "#1d2230";
      ctx.font = "12px system-ui, sans-serif";
      const width = el.width / ratio;
      const height = el.height / ratio;
      for (const n of nodes) {
        const x = px(n);
        const y = py(n);
        if (n.id === selected || x < -200 || x > width || y < -20 || y > height + 20) continue;
        ctx.fillText(n.label, x + n.size + 3, y + 4);
      }
    }
    const chosen = selected ? at.get(selected) : undefined;
    if (chosen) {
      ctx.strokeStyle = "#1d2230";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(px(chosen), py(chosen), chosen.size + 4, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.fillStyle = "#1d2230";
      ctx.fillText(chosen.label, px(chosen) + chosen.size + 6, py(chosen) + 4);
    }
  };
  const redraw = () => {
    if (!frame.current) frame.current = requestAnimationFrame(draw);
  };

  // The whole graph in view: when it changes, and when the box resizes until the user moves
  // the view; only the selection changing keeps the view as it is.
  const fitted = useRef(true);
  const fit = () => {
    const outer = box.current;
    const { nodes } = state.current;
    if (!outer || !nodes.length) return;
    let [minX, maxX, minY, maxY] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const n of nodes) {
      minX = Math.min(minX, n.x);
      maxX = Math.max(maxX, n.x);
      minY = Math.min(minY, n.y);
      maxY = Math.max(maxY, n.y);
    }
    const pad = 40;
    const labels = 140; // room for the labels of the rightmost nodes
    const width = outer.clientWidth - 2 * pad - labels;
    const height = outer.clientHeight - 2 * pad;
    const scale = Math.min(width / Math.max(maxX - minX, 1e-9), height / Math.max(maxY - minY, 1e-9), 80);
    camera.current = {
      scale,
      x: minX - (outer.clientWidth - labels - (maxX - minX) * scale) / 2 / scale,
      y: minY - (outer.clientHeight - (maxY - minY) * scale) / 2 / scale,
    };
  };

  useEffect(() => {
    const el = canvas.current;
    const outer = box.current;
    if (!el || !outer) return;
    const resize = () => {
      const ratio = window.devicePixelRatio || 1;
      el.width = outer.clientWidth * ratio;
      el.height = outer.clientHeight * ratio;
      if (fitted.current) fit();
      redraw();
    };
    index.current = new Map(state.current.nodes.map((n) => [n.id, n]));
    fitted.current = true;
    resize();
    const observer = new ResizeObserver(resize);
    observer.observe(outer);
    return () => observer.disconnect();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.nodes]);

  useEffect(redraw, [props.selected, props.chain]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const el = canvas.current;
    if (!el) return;
    let start: { x: number; y: number; cx: number; cy: number } | null = null;
    let travelled = 0;
    const down = (e: PointerEvent) => {
      start = { x: e.clientX, y: e.clientY, cx: camera.current.x, cy: camera.current.y };
      travelled = 0;
      el.setPointerCapture(e.pointerId);
    };
    const move = (e: PointerEvent) => {
      if (!start) return;
      travelled = Math.max(travelled, Math.abs(e.clientX - start.x) + Math.abs(e.clientY - start.y));
      if (travelled < 3) return;
      moving.current = true;
      fitted.current = false;
      const { scale } = camera.current;
      camera.current = { scale, x: start.cx - (e.clientX - start.x) / scale, y: start.cy - (e.clientY - start.y) / scale };
      redraw();
    };
    const up = (e: PointerEvent) => {
      const was = start;
      start = null;
      moving.current = false;
      if (was && travelled < 3) state.current.onSelect(hit(e));
      redraw();
    };
    const hit = (e: PointerEvent): string | null => {
      const rect = el.getBoundingClientRect();
      const { x: cx, y: cy, scale } = camera.current;
      let best: string | null = null;
      let bestDistance = 8 * 8; // within 8 px
      for (const n of state.current.nodes) {
        const dx = (n.x - cx) * scale - (e.clientX - rect.left);
        const dy = (n.y - cy) * scale - (e.clientY - rect.top);
        const distance = dx * dx + dy * dy;
        if (distance < Math.max(bestDistance, n.size * n.size)) {
          best = n.id;
          bestDistance = distance;
        }
      }
      return best;
    };
    const wheel = (e: WheelEvent) => {
      e.preventDefault();
      fitted.current = false;
      const rect = el.getBoundingClientRect();
      const { x, y, scale } = camera.current;
      const factor = Math.exp(-e.deltaY * 0.0015);
      const next = Math.min(Math.max(scale * factor, 0.01), 400);
      const mx = e.clientX - rect.left;
      const my = e.clientY - rect.top;
      camera.current = { scale: next, x: x + mx / scale - mx / next, y: y + my / scale - my / next };
      redraw();
    };
    el.addEventListener("pointerdown", down);
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerup", up);
    el.addEventListener("wheel", wheel, { passive: false });
    return () => {
      el.removeEventListener("pointerdown", down);
      el.removeEventListener("pointermove", move);
      el.removeEventListener("pointerup", up);
      el.removeEventListener("wheel", wheel);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <div ref={box} className="graph" role="img" aria-label={props.label} data-nodes={props.nodes.length} data-chain={props.chain.join(" ")}>
      <canvas ref={canvas} />
    </div>
  );
}

function arrow(ctx: CanvasRenderingContext2D, x1: number, y1: number, x2: number, y2: number, back: number) {
  const angle = Math.atan2(y2 - y1, x2 - x1);
  const tipX = x2 - Math.cos(angle) * back;
  const tipY = y2 - Math.sin(angle) * back;
  ctx.moveTo(tipX, tipY);
  ctx.lineTo(tipX - 7 * Math.cos(angle - 0.4), tipY - 7 * Math.sin(angle - 0.4));
  ctx.lineTo(tipX - 7 * Math.cos(angle + 0.4), tipY - 7 * Math.sin(angle + 0.4));
  ctx.closePath();
}
