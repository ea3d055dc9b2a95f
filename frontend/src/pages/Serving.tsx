/** Serving page (being built). */
import { Title } from "@mantine/core";

export default function ServingPage() {
  return <Title order={2}>Serving</Title>;
}
