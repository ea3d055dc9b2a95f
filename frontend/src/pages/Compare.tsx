/** Compare page (being built). */
import { Title } from "@mantine/core";

export default function ComparePage() {
  return <Title order={2}>Compare</Title>;
}
