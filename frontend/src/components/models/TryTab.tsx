/** "Try it": a form built from the version's input schema, a prediction with its scores, and feedback on it. */
import { Alert, Box, Button, Card, Group, NumberInput, Progress, Select, SimpleGrid, Stack, Text, TextInput, Textarea, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, ApiError, errorMessage, unwrap, type Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { buildInput, formatMetric, inputSchema, rankedScores } from "../../lib/models";
import { Empty } from "../states";

type Version = Schemas["ModelVersion"];

function Feedback({ predictionId, classes, regression }: { predictionId: string; classes: string[]; regression: boolean }) {
  const canWrite = useCan("member");
  const client = useQueryClient();
  const [label, setLabel] = useState<string | null>(null);
  const send = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/predictions/{id}/feedback/", {
          params: { path: { id: predictionId } },
          body: { label: regression ? Number(label) : label },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["predictions"] }),
  });
  if (!canWrite) return <Text size="sm" c="dimmed">Giving feedback needs the member role.</Text>;
  const error = send.error instanceof ApiError ? (send.error.fieldErrors.label?.join(" ") ?? send.error.message) : send.error ? errorMessage(send.error) : undefined;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (label !== null && label !== "") send.mutate();
      }}
    >
      <Group align="flex-end" gap="xs">
        {regression || classes.length === 0 ? (
          <TextInput label="True label" value={label ?? ""} onChange={(e) => setLabel(e.currentTarget.value)} w={200} error={error} />
        ) : (
          <Select label="True label" data={classes} value={label} onChange={setLabel} w={200} searchable error={error} />
        )}
        <Button type="submit" variant="light" loading={send.isPending} disabled={label === null || label === ""}>
          Give feedback
        </Button>
      </Group>
      {send.isSuccess && (
        <Text size="sm" c="green.8" mt={4} role="status">
          Thanks: the true label is recorded; it counts toward the serving accuracy and the retrain trigger.
        </Text>
      )}
    </form>
  );
}

export function TryTab({ modelId, task, versions, initial }: { modelId: string; task: string; versions: Version[]; initial?: string }) {
  const production = versions.find((v) => v.aliases.includes("production"));
  const [versionId, setVersionId] = useState<string>(initial ?? production?.id ?? versions[0]?.id ?? "");
  const version = versions.find((v) => v.id === versionId);
  const schema = useMemo(() => inputSchema(version?.spec), [version]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const predict = useMutation({
    mutationFn: (input: unknown) =>
      unwrap(
        api.POST("/api/v1/models/{id}/predict/", {
          params: { path: { id: modelId } },
          body: { version: version!.version, inputs: [input], runtime: "auto" },
        }),
      ),
  });

  if (versions.length === 0) return <Empty title="No versions to try">Train or register a version first.</Empty>;
  const regression = task === "regression";
  const result = predict.data?.predictions[0] as { id?: string; label?: unknown; scores?: unknown } | undefined;
  const scores = rankedScores(result?.scores).slice(0, 10);
  const set = (k: string, v: string) => setValues((s) => ({ ...s, [k]: v }));
  const imageDefault = schema.imageShape
    ? `[\n${Array.from({ length: schema.imageShape[0] }, () => `  [${Array(schema.imageShape![1]).fill(0).join(", ")}]`).join(",\n")}\n]`
    : "";

  return (
    <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const built = buildInput(schema, schema.kind === "image" ? { pixels: values.pixels ?? imageDefault } : values);
          setErrors(built.errors);
          if (built.input !== undefined) predict.mutate(built.input);
        }}
      >
        <Stack>
          <Select
            label="Version"
            data={versions.map((v) => ({ value: v.id, label: `v${v.version}${v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}` }))}
            value={versionId}
            onChange={(v) => {
              if (!v) return;
              setVersionId(v);
              setErrors({});
              predict.reset();
            }}
            allowDeselect={false}
          />
          {schema.kind === "unknown" && (
            <Alert color="gray" title="No input schema">
              This version's spec does not name its inputs; call POST /api/v1/models/{"{id}"}/predict/ with rows yourself.
            </Alert>
          )}
          {schema.kind === "tabular" && (
            <SimpleGrid cols={{ base: 1, xs: 2 }} spacing="xs">
              {schema.fields.map((f) => (
                <NumberInput
                  key={f.name}
                  label={f.name}
                  value={values[f.name] ?? ""}
                  onChange={(v) => set(f.name, String(v))}
                  error={errors[f.name]}
                  hideControls
                  decimalScale={8}
                />
              ))}
            </SimpleGrid>
          )}
          {schema.kind === "text" && (
            <Textarea
              label={schema.fields[0].name}
              value={values[schema.fields[0].name] ?? ""}
              onChange={(e) => set(schema.fields[0].name, e.currentTarget.value)}
              error={errors[schema.fields[0].name]}
              autosize
              minRows={3}
            />
          )}
          {schema.kind === "image" && (
            <Textarea
              label={`Pixels (${schema.imageShape?.join(" × ")} JSON list)`}
              description="Rows of numbers, as in the training data"
              value={values.pixels ?? imageDefault}
              onChange={(e) => set("pixels", e.currentTarget.value)}
              error={errors.pixels}
              autosize
              minRows={4}
              maxRows={12}
              styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)", fontSize: 12 } }}
            />
          )}
          <Group>
            <Button type="submit" loading={predict.isPending} disabled={schema.kind === "unknown"}>
              Predict
            </Button>
          </Group>
        </Stack>
      </form>
      <Card withBorder>
        <Title order={3} size="h4" mb="sm">
          Prediction
        </Title>
        {predict.isError && (
          <Alert color="red" role="alert" title="The model refused the input">
            {errorMessage(predict.error)}
          </Alert>
        )}
        {!predict.data && !predict.isError && (
          <Text size="sm" c="dimmed">
            Fill in the form and press Predict.
          </Text>
        )}
        {predict.data && result && (
          <Stack gap="sm" aria-live="polite">
            <Group gap="xs" align="baseline">
              <Text size="sm">Label</Text>
              <Text size="xl" fw={700} data-testid="prediction-label">
                {typeof result.label === "number" ? formatMetric(result.label) : String(result.label)}
              </Text>
              <Text size="xs" c="dimmed">
                v{predict.data.version} · {predict.data.runtime} · {formatMetric(predict.data.latency_ms)} ms
              </Text>
            </Group>
            {scores.length > 0 && (
              <Stack gap={4} aria-label="Scores">
                {scores.map(([label, p]) => (
                  <Box key={label}>
                    <Group justify="space-between" gap="xs">
                      <Text size="sm">{label}</Text>
                      <Text size="sm" style={{ fontVariantNumeric: "tabular-nums" }}>
                        {(p * 100).toFixed(1)}%
                      </Text>
                    </Group>
                    <Progress value={p * 100} size="sm" aria-label={`Score of ${label}`} />
                  </Box>
                ))}
              </Stack>
            )}
            {result.id && <Feedback key={result.id} predictionId={result.id} classes={schema.classes} regression={regression} />}
          </Stack>
        )}
      </Card>
    </SimpleGrid>
  );
}
