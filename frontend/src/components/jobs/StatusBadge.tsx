/** A job's status as a coloured badge (the colour is never the only cue: the text says the status). */
import { Badge } from "@mantine/core";

const COLORS: Record<string, string> = {
  queued: "gray",
  running: "blue",
  succeeded: "green",
  failed: "red",
  cancelled: "orange",
};

export function StatusBadge({ status, title }: { status: string; title?: string }) {
  return (
    <Badge color={COLORS[status] ?? "gray"} variant="light" title={title || undefined} styles={{ root: { textTransform: "none" } }}>
      {status}
    </Badge>
  );
}
