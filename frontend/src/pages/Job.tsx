/** Job page (being built). */
import { Title } from "@mantine/core";

export default function JobPage() {
  return <Title order={2}>Job</Title>;
}
