/**
 * The form of one job kind: the job fields (team, priority, resources, retries, timeout) and the spec, a form
 * generated from the kind's JSON Schema (draft 2020-12) by rjsf. On submit it POSTs /api/v1/jobs/; the API's
 * 400 `errors` show next to the field they name (`spec.hyperparameters.lr` by that input). Read-only for a
 * viewer. Only the submit page imports this module, so rjsf stays out of the other pages' code.
 */
import { Alert, Button, Group, Stack, Text, Title } from "@mantine/core";
import Form from "@rjsf/mantine";
import type { RJSFSchema } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import Ajv2020 from "ajv/dist/2020";
import { useMemo, useState } from "react";
import { ApiError, api, type Schemas, unwrap } from "../../api/client";
import { atLeast, useTeam } from "../../auth";
import { type ErrorTree, splitErrors, type SplitErrors, uiSchemaFor, withDefaultTypes } from "../../lib/jobsform";
import { JOB_FIELD_DEFAULTS, JobFields, type JobFieldValues, jobFieldsBody } from "./JobFields";
import { PICKER_WIDGETS, PickerTeam, SpecTitle } from "./widgets";

const validator = customizeValidator({ AjvClass: Ajv2020 });

const NO_ERRORS: SplitErrors = { spec: {}, fields: {}, other: [] };

export function SpecForm({
  kind,
  initialSpec,
  initialFields,
}: {
  kind: Schemas["JobKind"];
  initialSpec: Record<string, unknown>;
  initialFields?: Partial<JobFieldValues>;
}) {
  const { team, teams, roleIn } = useTeam();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [fields, setFields] = useState<JobFieldValues>({
    ...JOB_FIELD_DEFAULTS,
    team: team?.slug ?? "",
    ...initialFields,
  });
  const [spec, setSpec] = useState<Record<string, unknown>>(initialSpec);
  const [errors, setErrors] = useState<SplitErrors>(NO_ERRORS);
  const canSubmit = atLeast(roleIn(fields.team), "member");

  const schema = useMemo(() => withDefaultTypes(kind.spec_schema) as RJSFSchema, [kind.spec_schema]);
  const uiSchema = useMemo(
    () => ({ ...uiSchemaFor(kind.spec_schema), "ui:submitButtonOptions": { norender: true } }),
    [kind.spec_schema],
  );

  const submit = useMutation({
    mutationFn: (formSpec: Record<string, unknown>) =>
      unwrap(
        api.POST("/api/v1/jobs/", {
          body: { kind: kind.kind, spec: formSpec, ...jobFieldsBody(fields) },
        }),
      ),
    onMutate: () => setErrors(NO_ERRORS),
    onSuccess: async (job) => {
      await client.invalidateQueries({ queryKey: ["jobs"] });
      await navigate({ to: "/jobs/$jobId", params: { jobId: job.id }, search: {} as never });
    },
    onError: (error) => {
      if (error instanceof ApiError) {
        const split = splitErrors(error.fieldErrors);
        if (!split.other.length && !Object.keys(split.fields).length && !Object.keys(split.spec).length) split.other.push(error.message);
        setErrors(split);
      } else setErrors({ ...NO_ERRORS, other: [String(error)] });
    },
  });

  const teamChoices = teams.map((t) => ({ value: t.slug, label: `${t.name || t.slug} (${t.role})` }));
  const hasFieldErrors = Object.keys(errors.fields).length > 0 || Object.keys(errors.spec).length > 0;

  return (
    <PickerTeam.Provider value={fields.team}>
      <Stack gap="md">
        {!canSubmit && (
          <Alert color="yellow" title="Read only">
            Your role in this team is viewer: you can read the form, but submitting a job needs the member role.
          </Alert>
        )}
        <section aria-labelledby="job-settings">
          <Title order={3} size="h4" id="job-settings" mb="xs">
            Job settings
          </Title>
          <JobFields
            value={fields}
            teams={teamChoices}
            errors={errors.fields}
            distributed={kind.distributed}
            disabled={!canSubmit && teams.every((t) => !atLeast(t.role, "member"))}
            onChange={(patch) => setFields((f) => ({ ...f, ...patch }))}
          />
        </section>
        <section aria-labelledby="job-spec">
          <Title order={3} size="h4" id="job-spec" mb="xs">
            Spec
          </Title>
          <Form
            schema={schema}
            uiSchema={uiSchema}
            formData={spec}
            validator={validator}
            widgets={PICKER_WIDGETS}
            templates={{ TitleFieldTemplate: SpecTitle }}
            extraErrors={errors.spec as never}
            onChange={(e) => setSpec((e.formData ?? {}) as Record<string, unknown>)}
            onSubmit={(e) => submit.mutate((e.formData ?? {}) as Record<string, unknown>)}
            readonly={!canSubmit}
            showErrorList={false}
            noHtml5Validate
            experimental_defaultFormStateBehavior={{ emptyObjectFields: "populateRequiredDefaults" }}
          >
            {errors.other.length > 0 && (
              <Alert color="red" title="The job was not submitted" role="alert" mt="md">
                {errors.other.map((m) => (
                  <Text key={m} size="sm">
                    {m}
                  </Text>
                ))}
              </Alert>
            )}
            {hasFieldErrors && !errors.other.length && (
              <Text c="red.8" size="sm" mt="md" role="alert">
                The job was not submitted: see the messages by the fields.
              </Text>
            )}
            {canSubmit && (
              <Group mt="md">
                <Button type="submit" loading={submit.isPending}>
                  Submit {kind.kind} job
                </Button>
              </Group>
            )}
          </Form>
        </section>
      </Stack>
    </PickerTeam.Provider>
  );
}

export type { ErrorTree };
