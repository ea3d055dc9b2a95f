/** Team page (being built). */
import { Title } from "@mantine/core";

export default function TeamPage() {
  return <Title order={2}>Team</Title>;
}
