/** A leaderboard as bars: the headline score of each version on one evaluation set (negative scores go left of zero). */
import { Box, Text } from "@mantine/core";
import { barScale, formatMetric, type Leaderboard } from "../../lib/models";

export function LeaderboardChart({ board, highlight }: { board: Leaderboard; highlight?: string }) {
  const entries = board.entries;
  const scale = barScale(entries.map((e) => e.score));
  const zero = scale.share(0);
  return (
    <figure style={{ margin: 0 }}>
      <div
        role="img"
        aria-label={`${board.metric} per version on ${board.dataset} (${board.split}): ${entries
          .map((e) => `v${e.version} ${formatMetric(e.score)}`)
          .join(", ")}`}
        style={{ display: "grid", gridTemplateColumns: "auto 1fr auto", columnGap: 8, rowGap: 4, alignItems: "center" }}
      >
        {entries.map((e) => {
          const share = e.score === null ? zero : scale.share(e.score);
          const left = Math.min(share, zero);
          const width = Math.abs(share - zero);
          const active = e.modelVersion === highlight;
          return [
            <Text key={`${e.modelVersion}-l`} size="sm" fw={active ? 700 : 400} aria-hidden>
              v{e.version}
            </Text>,
            <Box key={`${e.modelVersion}-b`} h={16} bg="var(--mantine-color-default-hover)" pos="relative" aria-hidden>
              <Box
                pos="absolute"
                top={0}
                h={16}
                style={{ left: `${left * 100}%`, width: `${Math.max(width * 100, e.score === null ? 0 : 0.5)}%` }}
                bg={active ? "var(--mantine-color-green-filled)" : "var(--mantine-color-blue-filled)"}
              />
            </Box>,
            <Text key={`${e.modelVersion}-v`} size="sm" ta="right" aria-hidden style={{ fontVariantNumeric: "tabular-nums" }}>
              {formatMetric(e.score)}
            </Text>,
          ];
        })}
      </div>
      <Text component="figcaption" size="xs" c="dimmed" mt={4}>
        {board.metric} on {board.dataset} ({board.split}); the highlighted bar is the selected version
      </Text>
    </figure>
  );
}
