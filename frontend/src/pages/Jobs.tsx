/** Jobs page (being built). */
import { Title } from "@mantine/core";

export default function JobsPage() {
  return <Title order={2}>Jobs</Title>;
}
