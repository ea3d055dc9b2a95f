/** Timeline page (being built). */
import { Title } from "@mantine/core";

export default function TimelinePage() {
  return <Title order={2}>Timeline</Title>;
}
