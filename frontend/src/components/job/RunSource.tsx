/**
 * What a tracking run records besides metrics: where it ran (git commit and dirty state, branch, remote, Python,
 * host, command, package versions; `spec.environment`, written by the tracking client) and the files it logged
 * (GET /jobs/{id}/artifacts/, each a download link).
 */
import { Anchor, Badge, Code, Group, SimpleGrid, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import { formatBytes } from "../../lib/datasets";
import { ErrorState } from "../states";
import { KeyValueTable } from "./JobParts";

type Environment = {
  git?: { commit?: string; dirty?: boolean; branch?: string | null; remote?: string | null } | null;
  python?: string;
  platform?: string;
  host?: string;
  command?: string;
  packages?: Record<string, string>;
};

export function environmentOf(spec: unknown): Environment | null {
  if (!spec || typeof spec !== "object") return null;
  const env = (spec as { environment?: unknown }).environment;
  return env && typeof env === "object" ? (env as Environment) : null;
}

export function RunEnvironment({ environment }: { environment: Environment }) {
  const git = environment.git;
  const facts: [string, React.ReactNode][] = [
    [
      "Commit",
      git?.commit ? (
        <Group gap={6} wrap="nowrap">
          <Code>{git.commit.slice(0, 12)}</Code>
          {git.dirty && (
            <Badge size="xs" color="gray.8" variant="filled" title="files differed from the commit when the run started">
              dirty
            </Badge>
          )}
        </Group>
      ) : (
        <Text size="sm" c="dimmed">
          not in a git repository
        </Text>
      ),
    ],
    ["Branch", git?.branch ?? "—"],
    ["Remote", git?.remote ?? "—"],
    ["Python", environment.python ?? "—"],
    ["Host", environment.host ?? "—"],
    ["Command", environment.command ? <Code style={{ wordBreak: "break-all" }}>{environment.command}</Code> : "—"],
  ];
  return (
    <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
      <Table withTableBorder fz="sm" aria-label="Source">
        <Table.Tbody>
          {facts.map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Th scope="row" w={110}>
                {label}
              </Table.Th>
              <Table.Td style={{ wordBreak: "break-word" }}>{value}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <KeyValueTable rows={environment.packages ?? {}} label="Packages" keyHeader="Package" valueHeader="Version" empty="No packages recorded." />
    </SimpleGrid>
  );
}

export function RunArtifacts({ jobId }: { jobId: string }) {
  const q = useQuery({
    queryKey: ["job-artifacts", jobId],
    queryFn: () => unwrap(api.GET("/api/v1/jobs/{id}/artifacts/", { params: { path: { id: jobId } } })),
  });
  if (q.isError) return <ErrorState error={q.error} title="Could not list the artifacts" />;
  if (q.isPending) return null;
  if (!q.data.length)
    return (
      <Text size="sm" c="dimmed">
        No files logged (run.log_artifact, run.log_text).
      </Text>
    );
  return (
    <Table.ScrollContainer minWidth={360}>
      <Table striped withTableBorder fz="sm" aria-label="Artifacts">
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">File</Table.Th>
            <Table.Th scope="col">Size</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {q.data.map((a) => (
            <Table.Tr key={a.path}>
              <Table.Td ff="monospace">
                <Anchor href={`/api/v1/jobs/${jobId}/artifacts/${a.path.split("/").map(encodeURIComponent).join("/")}`} download>
                  {a.path}
                </Anchor>
              </Table.Td>
              <Table.Td>{formatBytes(a.size_bytes)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
