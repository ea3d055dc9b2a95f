/** Model page (being built). */
import { Title } from "@mantine/core";

export default function ModelPage() {
  return <Title order={2}>Model</Title>;
}
