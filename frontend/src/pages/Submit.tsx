/** Submit page (being built). */
import { Title } from "@mantine/core";

export default function SubmitPage() {
  return <Title order={2}>Submit</Title>;
}
