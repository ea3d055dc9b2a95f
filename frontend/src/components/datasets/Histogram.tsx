/** A tiny inline SVG bar chart of a column's histogram (20 bins from the stats endpoint). */
import { histogramBars } from "../../lib/datasets";
import { formatStat } from "../../lib/datasets";

export function Histogram({
  histogram,
  column,
  width = 120,
  height = 28,
}: {
  histogram: { edges: number[]; counts: number[] };
  column: string;
  width?: number;
  height?: number;
}) {
  const bars = histogramBars(histogram, width, height);
  const lo = histogram.edges[0];
  const hi = histogram.edges[histogram.edges.length - 1];
  return (
    <svg
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`Histogram of ${column}: ${bars.length} bins from ${formatStat(lo)} to ${formatStat(hi)}`}
      style={{ display: "block" }}
    >
      <line x1={0} x2={width} y1={height - 0.5} y2={height - 0.5} stroke="var(--mantine-color-default-border)" />
      {bars.map((b, i) => (
        <rect key={i} x={b.x} y={b.y} width={b.width} height={b.height} fill="var(--mantine-color-blue-filled)">
          <title>{`${formatStat(b.from)} – ${formatStat(b.to)}: ${b.count.toLocaleString("en-US")}`}</title>
        </rect>
      ))}
    </svg>
  );
}
