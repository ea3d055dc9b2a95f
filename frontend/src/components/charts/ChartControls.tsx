/** Controls shared by the job and compare charts: x axis (step/time), smoothing, and reset zoom. */
import { Box, Button, Group, SegmentedControl, Slider, Text } from "@mantine/core";
import { useEffect, useId, useState } from "react";
import { clampSmooth } from "../../lib/chart";

export function ChartControls({
  x,
  smooth,
  zoomed,
  onChange,
  onResetZoom,
}: {
  x: "step" | "time";
  smooth: number;
  zoomed?: boolean;
  onChange: (patch: { x?: "step" | "time"; smooth?: number }) => void;
  onResetZoom?: () => void;
}) {
  const sliderLabel = useId();
  const axisLabel = useId();
  const [draft, setDraft] = useState(smooth);
  useEffect(() => setDraft(smooth), [smooth]);
  return (
    <Group gap="lg" align="end" wrap="wrap">
      <Box>
        <Text size="sm" fw={500} id={axisLabel} mb={4}>
          X axis
        </Text>
        <SegmentedControl
          aria-labelledby={axisLabel}
          size="xs"
          value={x}
          onChange={(v) => onChange({ x: v as "step" | "time" })}
          data={[
            { value: "step", label: "Step" },
            { value: "time", label: "Time" },
          ]}
        />
      </Box>
      <Box w={{ base: "100%", xs: 240 }}>
        <Text size="sm" fw={500} id={sliderLabel} mb={4}>
          Smoothing: {draft.toFixed(2)}
        </Text>
        <Slider
          aria-labelledby={sliderLabel}
          thumbLabel="Smoothing"
          min={0}
          max={0.99}
          step={0.01}
          value={draft}
          onChange={setDraft}
          onChangeEnd={(v) => onChange({ smooth: clampSmooth(v) })}
          label={(v) => v.toFixed(2)}
        />
      </Box>
      {onResetZoom && (
        <Group gap="xs" align="center">
          <Button variant="default" size="xs" onClick={onResetZoom} disabled={!zoomed}>
            Reset zoom
          </Button>
          <Text size="xs" c="dimmed" maw={260}>
            Drag across a chart to zoom to those steps.
          </Text>
        </Group>
      )}
    </Group>
  );
}
