/** The loop as one picture: register data -> process -> train -> evaluate -> promote -> serve -> feedback -> retrain. */
import { Box, SimpleGrid, Text, ThemeIcon } from "@mantine/core";
import { PaperLink, partialSearch, MUTED } from "../links";
import type { LoopStage } from "../../lib/overview";
import { formatCount } from "../../lib/overviewFormat";

function StageCard({ stage, index, last }: { stage: LoopStage; index: number; last: boolean }) {
  return (
    <Box component="li" style={{ listStyle: "none", position: "relative", minWidth: 0 }}>
      <PaperLink
        to={stage.to}
        search={partialSearch(stage.search)}
        withBorder
        p="sm"
        radius="md"
        h="100%"
        aria-label={`${stage.label}: ${stage.value === null ? "not known yet" : formatCount(stage.value)} ${stage.unit}. ${stage.hint}`}
        style={{
          display: "block",
          textDecoration: "none",
          color: "inherit",
          borderColor: stage.attention ? "var(--mantine-color-orange-6)" : undefined,
          borderWidth: stage.attention ? 2 : undefined,
        }}
      >
        <Box style={{ display: "flex", alignItems: "center", gap: 6 }}>
          <ThemeIcon size={20} radius="xl" variant="light" color={stage.attention ? "orange" : "green"} aria-hidden>
            <Text size="xs" fw={700} component="span">
              {index + 1}
            </Text>
          </ThemeIcon>
          <Text size="sm" fw={600} truncate>
            {stage.label}
          </Text>
          <Text size="sm" c={MUTED} ml="auto" aria-hidden>
            {last ? "↻" : "→"}
          </Text>
        </Box>
        <Text fz={26} fw={700} lh={1.2} mt={6}>
          {stage.value === null ? "—" : formatCount(stage.value)}
        </Text>
        <Text size="xs" c={MUTED} lineClamp={1}>
          {stage.unit}
        </Text>
        <Text size="xs" mt={4} lineClamp={2}>
          {stage.hint}
        </Text>
      </PaperLink>
    </Box>
  );
}

export function Loop({ stages }: { stages: LoopStage[] }) {
  return (
    <SimpleGrid
      component="ol"
      cols={{ base: 2, sm: 4, xl: 8 }}
      spacing="xs"
      verticalSpacing="xs"
      p={0}
      m={0}
      aria-label="The loop, stage by stage"
    >
      {stages.map((s, i) => (
        <StageCard key={s.key} stage={s} index={i} last={i === stages.length - 1} />
      ))}
    </SimpleGrid>
  );
}
