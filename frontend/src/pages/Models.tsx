/** Models page (being built). */
import { Title } from "@mantine/core";

export default function ModelsPage() {
  return <Title order={2}>Models</Title>;
}
