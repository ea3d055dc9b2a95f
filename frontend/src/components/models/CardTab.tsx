/** The model card: Markdown rendered safely (no raw HTML), the gate's required sections, and an editor for members. */
import { Alert, Badge, Button, Group, Paper, SegmentedControl, Stack, Text, Textarea, Typography, VisuallyHidden } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import Markdown from "react-markdown";
import { api, ApiError, errorMessage, unwrap, type Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { cardSections, missingCardFields } from "../../lib/models";
import { Empty } from "../states";
import { modelKeys } from "./queries";

export function CardView({ card }: { card: string }) {
  if (!card.trim()) return <Empty title="No model card yet">Describe the intended use, the data, the limits and ethics.</Empty>;
  return (
    <Typography>
      <Markdown skipHtml>{card}</Markdown>
    </Typography>
  );
}

export function CardTab({ model, gate }: { model: Schemas["RegisteredModel"]; gate: Schemas["Gate"] | null | undefined }) {
  const canEdit = useCan("member");
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [mode, setMode] = useState<"write" | "preview">("write");
  const [draft, setDraft] = useState(model.card ?? "");
  const save = useMutation({
    mutationFn: (card: string) => unwrap(api.PATCH("/api/v1/models/{id}/", { params: { path: { id: model.id } }, body: { card } })),
    onSuccess: (updated) => {
      client.setQueryData(modelKeys.one(model.id), updated);
      void client.invalidateQueries({ queryKey: modelKeys.all });
      setEditing(false);
    },
  });
  const required = gate?.required_card_fields ?? [];
  const shown = editing ? draft : (model.card ?? "");
  const missing = missingCardFields(shown, required);
  const sections = cardSections(shown);
  const fieldError = save.error instanceof ApiError ? save.error.fieldErrors.card?.join(" ") : undefined;

  return (
    <Stack>
      {required.length > 0 && (
        <Group gap="xs" aria-label="Sections the gate requires">
          <Text size="sm">The gate requires the sections:</Text>
          {required.map((r) => {
            const ok = !missing.includes(r);
            return (
              <Badge key={r} color={ok ? "green" : "red"} variant="light" tt="none">
                {ok ? "✓" : "✗"} {r}
                <VisuallyHidden component="span">
                  {ok ? " (present)" : " (missing)"}
                </VisuallyHidden>
              </Badge>
            );
          })}
        </Group>
      )}
      {!editing ? (
        <>
          {canEdit && (
            <Group>
              <Button
                variant="default"
                onClick={() => {
                  setDraft(model.card ?? "");
                  setMode("write");
                  setEditing(true);
                }}
              >
                Edit card
              </Button>
            </Group>
          )}
          <Paper withBorder p="md">
            <CardView card={model.card ?? ""} />
          </Paper>
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(draft);
          }}
        >
          <Stack>
            <SegmentedControl
              aria-label="Editor mode"
              value={mode}
              onChange={(v) => setMode(v as "write" | "preview")}
              data={[
                { value: "write", label: "Write" },
                { value: "preview", label: "Preview" },
              ]}
              w={200}
            />
            {mode === "write" ? (
              <Textarea
                label="Model card (Markdown)"
                description={`Headings (## Intended use) make sections; ${Object.keys(sections).length} so far.`}
                value={draft}
                onChange={(e) => setDraft(e.currentTarget.value)}
                autosize
                minRows={12}
                maxRows={30}
                styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)", fontSize: 13 } }}
                error={fieldError}
              />
            ) : (
              <Paper withBorder p="md">
                <CardView card={draft} />
              </Paper>
            )}
            {save.isError && !fieldError && (
              <Alert color="red" role="alert" title="The card was not saved">
                {errorMessage(save.error)}
              </Alert>
            )}
            <Group>
              <Button type="submit" loading={save.isPending}>
                Save card
              </Button>
              <Button variant="default" onClick={() => setEditing(false)}>
                Cancel
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Stack>
  );
}
