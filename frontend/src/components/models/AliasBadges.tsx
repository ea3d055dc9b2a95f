/** A version's or model's aliases as badges; production stands out. */
import { Badge, Group, Text } from "@mantine/core";

export function AliasBadges({ aliases }: { aliases: string[] }) {
  if (aliases.length === 0)
    return (
      <Text size="sm" c="dimmed" component="span">
        —
      </Text>
    );
  return (
    <Group gap={4} wrap="wrap">
      {[...aliases].sort().map((a) => (
        <Badge key={a} size="sm" variant={a === "production" ? "filled" : "light"} color={a === "production" ? "green" : "blue"} tt="none">
          {a}
        </Badge>
      ))}
    </Group>
  );
}
