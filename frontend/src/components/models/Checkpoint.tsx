/**
 * A Hugging Face checkpoint (a model version of format `hf`): what it is (architecture, model type, tokenizer,
 * parameters), its files (each a download), its base when it was fine-tuned, and a "Fine-tune" action that opens
 * the finetune form with this version as the base.
 */
import { Anchor, Button, Group, Stack, Table, Text, Title } from "@mantine/core";
import { Link } from "@tanstack/react-router";
import type { Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { formatBytes } from "../../lib/models";
import { ModelLink } from "./links";
import { useModelVersion } from "./queries";

type Version = Schemas["ModelVersion"];

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** "22.7M": a parameter count to 3 significant figures. */
export function shortCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)}B`;
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return String(n);
}

/** The version this one was fine-tuned (or derived) from, linked to its own model's page. */
export function BaseLink({ id }: { id: string }) {
  const base = useModelVersion(id);
  if (!base.data)
    return (
      <Text span ff="monospace">
        {base.isError ? `${id.slice(0, 8)} (not visible)` : id.slice(0, 8)}
      </Text>
    );
  return (
    <ModelLink modelId={base.data.model} version={base.data.id}>
      {base.data.model_name} v{base.data.version}
    </ModelLink>
  );
}

/** Fine-tune this version: the finetune form with it as `base_version`. */
export function FineTuneButton({ version }: { version: Version }) {
  return (
    <Button
      size="sm"
      variant="light"
      renderRoot={(p) => <Link {...p} to="/submit" search={{ kind: "finetune", from: undefined, base_version: version.id }} />}
    >
      Fine-tune v{version.version}
    </Button>
  );
}

export function CheckpointSection({ version }: { version: Version }) {
  const canWrite = useCan("member", version.team);
  if (version.format !== "hf") return null;
  const spec = (version.spec ?? {}) as Record<string, unknown>;
  const classes = Array.isArray(spec.classes) ? spec.classes.length : undefined;
  const adapter = spec.adapter && typeof spec.adapter === "object" ? (spec.adapter as Record<string, unknown>) : undefined;
  const rows: [string, string][] = [
    ["Architecture", str(spec.architecture) ?? "—"],
    ["Model type", str(spec.model_type) ?? "—"],
    ["Parameters", `${shortCount(version.num_parameters)} (${version.num_parameters.toLocaleString()})`],
    ["Tokenizer", [str(spec.tokenizer), num(spec.vocab_size) !== undefined ? `vocabulary ${num(spec.vocab_size)!.toLocaleString()}` : ""].filter(Boolean).join(", ") || "—"],
    ["Max length", num(spec.max_length)?.toLocaleString() ?? "—"],
    [
      "Head",
      classes
        ? `text classification, ${classes} classes`
        : Array.isArray(spec.head) && spec.head.length
          ? "its own (another task's): a fine-tune replaces it"
          : "none: a fine-tune adds one",
    ],
    [
      "Stored as",
      adapter
        ? `a LoRA adapter (r ${num(adapter.r) ?? "?"}, alpha ${num(adapter.alpha) ?? "?"}, ${(num(adapter.parameters) ?? 0).toLocaleString()} parameters) on its base, merged when loaded`
        : "the whole network's weights",
    ],
  ];
  return (
    <Stack gap="xs" component="section" aria-labelledby={`checkpoint-${version.id}`}>
      <Group justify="space-between" align="center">
        <Title order={4} id={`checkpoint-${version.id}`}>{version.parent ? "Fine-tuned checkpoint" : "Base model (Hugging Face checkpoint)"}</Title>
        {canWrite && <FineTuneButton version={version} />}
      </Group>
      {version.parent && (
        <Text size="sm" component="div">
          Base model: <BaseLink id={version.parent} />
        </Text>
      )}
      <Table.ScrollContainer minWidth={320}>
        <Table verticalSpacing={2} withRowBorders={false} aria-label="Checkpoint facts">
          <Table.Tbody>
            {rows.map(([k, v]) => (
              <Table.Tr key={k}>
                <Table.Th scope="row" fw={400} w={140}>
                  {k}
                </Table.Th>
                <Table.Td>{v}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {version.files.length > 0 && (
        <Table.ScrollContainer minWidth={320}>
          <Table verticalSpacing={2} aria-label="Checkpoint files">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>File</Table.Th>
                <Table.Th ta="right">Size</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {version.files.map((f) => (
                <Table.Tr key={f.name}>
                  <Table.Td>
                    <Anchor href={`/api/v1/model-versions/${version.id}/files/${encodeURIComponent(f.name)}/`} download size="sm" ff="monospace">
                      {f.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td ta="right" style={{ fontVariantNumeric: "tabular-nums", whiteSpace: "nowrap" }}>
                    {formatBytes(f.size_bytes)}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
