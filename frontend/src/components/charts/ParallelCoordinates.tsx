/**
 * Parallel coordinates of params against a metric, drawn as SVG: one vertical axis per numeric param plus the
 * metric (last), one polyline per job coloured by its metric value (low -> high: blue -> orange).
 */
import { Box, Group, Text, useComputedColorScheme } from "@mantine/core";
import { useElementSize } from "@mantine/hooks";
import { formatValue } from "../../lib/chart";
import { parallelLayout, type Scalar } from "../../lib/chartCompare";

const HEIGHT = 300;
const TOP = 40;
const BOTTOM = 40;
const SIDE = 56;
const LOW = [34, 139, 230]; // blue
const HIGH = [247, 103, 7]; // orange

function shadeColor(t: number | null): string {
  if (t === null) return "rgb(134,142,150)";
  const c = LOW.map((l, i) => Math.round(l + (HIGH[i] - l) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function ParallelCoordinates({
  jobs,
  metricKey,
  metricLabel,
}: {
  jobs: { id: string; label: string; params: Record<string, Scalar>; metric: number | null | undefined }[];
  metricKey: string;
  metricLabel: string;
}) {
  const { ref, width } = useElementSize();
  const dark = useComputedColorScheme("light") === "dark";
  const { axes, lines } = parallelLayout(jobs, metricKey);
  const ink = dark ? "#c1c2c5" : "#495057";
  const faint = dark ? "rgba(255,255,255,0.25)" : "rgba(0,0,0,0.25)";
  const w = Math.max(width, 200);
  const xAt = (i: number) => (axes.length === 1 ? w / 2 : SIDE + (i * (w - 2 * SIDE)) / (axes.length - 1));
  const yAt = (v: number) => TOP + (1 - v) * (HEIGHT - TOP - BOTTOM);
  const short = (k: string) => (k.length > 18 ? `…${k.slice(-17)}` : k);

  return (
    <Box>
      <Box ref={ref} style={{ width: "100%", overflowX: "auto" }}>
        {width > 0 && (
          <svg
            width={w}
            height={HEIGHT}
            role="img"
            aria-label={`Parallel coordinates of ${axes.length - 1} params against ${metricLabel} for ${jobs.length} jobs`}
          >
            {axes.map((a, i) => (
              <g key={a.key}>
                <line x1={xAt(i)} x2={xAt(i)} y1={TOP} y2={HEIGHT - BOTTOM} stroke={faint} strokeWidth={a.metric ? 2 : 1} />
                <text x={xAt(i)} y={TOP - 22} textAnchor="middle" fontSize={12} fill={ink} fontWeight={a.metric ? 700 : 500}>
                  <title>{a.metric ? metricLabel : a.key}</title>
                  {short(a.metric ? metricLabel : a.key)}
                </text>
                <text x={xAt(i)} y={TOP - 6} textAnchor="middle" fontSize={11} fill={ink}>
                  {formatValue(a.max)}
                </text>
                <text x={xAt(i)} y={HEIGHT - BOTTOM + 16} textAnchor="middle" fontSize={11} fill={ink}>
                  {formatValue(a.min)}
                </text>
              </g>
            ))}
            {lines.map((l, j) => {
              // a missing value breaks the line into segments
              const segs: string[] = [];
              let cur: string[] = [];
              l.ys.forEach((y, i) => {
                if (y === null) {
                  if (cur.length) segs.push(cur.join(" "));
                  cur = [];
                } else cur.push(`${xAt(i).toFixed(1)},${yAt(y).toFixed(1)}`);
              });
              if (cur.length) segs.push(cur.join(" "));
              const color = shadeColor(l.shade);
              return (
                <g key={l.id}>
                  <title>
                    {jobs[j].label}: {metricLabel} {formatValue(jobs[j].metric)}
                  </title>
                  {segs.map((pts, k) =>
                    pts.includes(" ") ? (
                      <polyline key={k} points={pts} fill="none" stroke={color} strokeWidth={2.5} strokeOpacity={0.9} />
                    ) : (
                      <circle key={k} cx={Number(pts.split(",")[0])} cy={Number(pts.split(",")[1])} r={3} fill={color} />
                    ),
                  )}
                </g>
              );
            })}
          </svg>
        )}
      </Box>
      <Group gap="xs" mt={4}>
        <Text size="xs" c="dimmed">
          colour by {metricLabel}:
        </Text>
        <Box
          w={120}
          h={10}
          style={{ background: `linear-gradient(to right, ${shadeColor(0)}, ${shadeColor(1)})`, borderRadius: 4 }}
          aria-hidden
        />
        <Text size="xs" c="dimmed">
          low → high
        </Text>
        {axes.length === 1 && (
          <Text size="xs" c="dimmed">
            · no numeric params to compare
          </Text>
        )}
      </Group>
    </Box>
  );
}
