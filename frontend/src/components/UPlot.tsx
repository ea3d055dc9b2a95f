/**
 * uPlot in React: creates the plot once per `options` identity, sets new data without re-creating it
 * (`setData`, so appending points to a running job's series is cheap), and follows its container's width.
 * Colours follow the Mantine colour scheme. `onDraw` fires after each draw (benchmarks time it).
 */
import { useComputedColorScheme } from "@mantine/core";
import { useElementSize } from "@mantine/hooks";
import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface UPlotProps {
  /** Options without width (taken from the container); a new object re-creates the plot. */
  options: Omit<uPlot.Options, "width">;
  data: uPlot.AlignedData;
  /** Accessible name of the chart. */
  label: string;
  onCreate?: (plot: uPlot) => void;
  onDraw?: (plot: uPlot) => void;
}

/** Axis and grid colours for the current colour scheme, to spread into each axis. */
export function useAxisColors(): Pick<uPlot.Axis, "stroke" | "grid" | "ticks"> {
  const dark = useComputedColorScheme("light") === "dark";
  // one object per scheme, so options built from it keep their identity (a new identity re-creates the plot)
  return useMemo(() => {
    const line = dark ? "rgba(255,255,255,0.12)" : "rgba(0,0,0,0.08)";
    return { stroke: dark ? "#c1c2c5" : "#495057", grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
  }, [dark]);
}

export function UPlot({ options, data, label, onCreate, onDraw }: UPlotProps) {
  const { ref: sizeRef, width } = useElementSize();
  const target = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef({ data, onDraw, width });
  latest.current = { data, onDraw, width };
  // Created once the container has a width; a later transient 0 (a layout pass, a full-page screenshot)
  // must not destroy the plot.
  const [ready, setReady] = useState(false);
  useEffect(() => {
    if (width > 0) setReady(true);
  }, [width]);

  useEffect(() => {
    if (!target.current || !ready) return;
    const opts: uPlot.Options = {
      ...options,
      width: latest.current.width,
      hooks: {
        ...options.hooks,
        draw: [...(options.hooks?.draw ?? []), (u) => latest.current.onDraw?.(u)],
      },
    };
    const created = new uPlot(opts, latest.current.data, target.current);
    plot.current = created;
    onCreate?.(created);
    return () => {
      created.destroy();
      plot.current = null;
    };
    // width changes resize (below); options identity re-creates
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [options, ready]);

  useEffect(() => {
    if (plot.current && width > 0) plot.current.setSize({ width, height: options.height });
  }, [width, options.height]);

  useEffect(() => {
    plot.current?.setData(data, true);
  }, [data]);

  return (
    <div ref={sizeRef} style={{ width: "100%", minWidth: 0 }}>
      <div ref={target} role="img" aria-label={label} />
    </div>
  );
}
