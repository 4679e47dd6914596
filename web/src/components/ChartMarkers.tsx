// Vertical markers for a Recharts chart with a numeric time axis: fault events and restarts from
// chaosRun.timelineMarkers. Fault labels stack from the top, restart labels from the bottom, and
// labels in the right third of the chart are written leftwards so none runs off the plot.

import { ReferenceLine } from "recharts";
import type { TimelineMarker } from "../chaosRun";

interface ViewBox {
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}

function MarkerLabel({ viewBox, text, color, row, bottom, leftwards, fontSize }: { viewBox?: ViewBox; text: string; color: string; row: number; bottom: boolean; leftwards: boolean; fontSize: number }) {
  const x = (viewBox?.x ?? 0) + (leftwards ? -4 : 4);
  const top = viewBox?.y ?? 0;
  const step = fontSize + 3;
  const y = bottom ? top + (viewBox?.height ?? 0) - 5 - row * step : top + fontSize + 1 + row * step;
  return (
    <text x={x} y={y} textAnchor={leftwards ? "end" : "start"} fill={color} fontSize={fontSize} fontWeight={600} stroke="#0b1120" strokeWidth={3} paintOrder="stroke">
      {text}
    </text>
  );
}

/** Label rows: a marker close to the previous one (within 12 % of the axis) takes the next row. */
function rows(markers: readonly TimelineMarker[], span: number): number[] {
  const out: number[] = [];
  let lastT = -Infinity;
  let lastRow = -1;
  for (const m of markers) {
    const row = m.t - lastT < span * 0.12 ? (lastRow + 1) % 4 : 0;
    out.push(row);
    lastT = m.t;
    lastRow = row;
  }
  return out;
}

/** ReferenceLines to put inside a chart (call it inline: Recharts reads its direct children). */
export function markerLines(markers: readonly TimelineMarker[], opts: { span: number; labels?: boolean; fontSize?: number }) {
  const span = Math.max(1e-9, opts.span);
  const faults = markers.filter((m) => m.kind !== "restart");
  const restarts = markers.filter((m) => m.kind === "restart");
  const fontSize = opts.fontSize ?? 12;
  const draw = (list: readonly TimelineMarker[], bottom: boolean) => {
    const r = rows(list, span);
    return list.map((m, i) => (
      <ReferenceLine
        key={m.key}
        x={m.t}
        stroke={m.color}
        strokeWidth={m.kind === "crashed" ? 2.5 : 1.5}
        strokeDasharray={m.kind === "restart" ? "2 3" : m.kind === "crashed" ? undefined : "6 4"}
        ifOverflow="extendDomain"
        label={opts.labels === false ? undefined : <MarkerLabel text={m.label} color={m.color} row={r[i]} bottom={bottom} leftwards={m.t > span * 0.66} fontSize={fontSize} />}
      />
    ));
  };
  return [...draw(faults, false), ...draw(restarts, true)];
}
