/** Promote page (being built). */
import { Title } from "@mantine/core";

export default function PromotePage() {
  return <Title order={2}>Promote</Title>;
}
