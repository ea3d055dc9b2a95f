/**
 * Add a version (member+): upload a file (multipart through XMLHttpRequest so the progress bar moves; cancel
 * aborts it), or import one of scikit-learn's built-in sets. The API's 400 errors appear by their field.
 */
import { Alert, Button, Card, Group, Input, Progress, Select, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type ChangeEvent, type FormEvent } from "react";
import { ApiError, errorMessage, type Schemas } from "../../api/client";
import { delimiterField, naValuesField } from "../../lib/datasets";
import { datasetKeys, useImportBuiltin } from "../../lib/datasetsQueries";
import { UploadAborted, uploadForm, type UploadHandle } from "../../lib/datasetsUpload";

const BUILTINS: { value: Schemas["BuiltinEnum"]; label: string }[] = [
  { value: "iris", label: "iris (classification, 150 rows)" },
  { value: "wine", label: "wine (classification, 178 rows)" },
  { value: "breast_cancer", label: "breast_cancer (classification, 569 rows)" },
  { value: "digits", label: "digits (images, 1,797 samples)" },
  { value: "diabetes", label: "diabetes (regression, 442 rows)" },
];

type Version = Schemas["DatasetVersion"];

function FileUpload({ datasetId, onCreated }: { datasetId: string; onCreated: (v: Version) => void }) {
  const client = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [target, setTarget] = useState("");
  const [delimiter, setDelimiter] = useState("");
  const [naValues, setNaValues] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [cancelled, setCancelled] = useState(false);
  const handle = useRef<UploadHandle<Version> | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const fileId = useId();

  const fieldErrors = error instanceof ApiError ? error.fieldErrors : {};
  const err = (field: string) => fieldErrors[field]?.join(" ");
  const shown = new Set(["file", "target", "delimiter", "na_values", "format"]);
  const generalError = error && !Object.keys(fieldErrors).some((k) => shown.has(k)) ? error : null;
  const uploading = progress !== null;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!file) {
      setError(new ApiError(400, { detail: "Choose a file to upload.", errors: { file: ["Choose a file to upload."] } }));
      return;
    }
    const form = new FormData();
    form.append("file", file);
    if (target.trim()) form.append("target", target.trim());
    if (delimiter) form.append("delimiter", delimiterField(delimiter));
    const na = naValuesField(naValues);
    if (na) form.append("na_values", na);
    setError(null);
    setCancelled(false);
    setProgress(0);
    const h = uploadForm<Version>(`/api/v1/datasets/${datasetId}/versions/`, form, setProgress);
    handle.current = h;
    h.promise
      .then((version) => {
        void client.invalidateQueries({ queryKey: datasetKeys.all });
        setFile(null);
        if (fileInput.current) fileInput.current.value = "";
        onCreated(version);
      })
      .catch((e) => {
        if (e instanceof UploadAborted) setCancelled(true);
        else setError(e);
      })
      .finally(() => {
        handle.current = null;
        setProgress(null);
      });
  }

  return (
    <Card withBorder padding="md">
      <form onSubmit={submit} noValidate aria-label="Upload a file">
        <Stack gap="sm">
          <Title order={4} size="h5">
            Upload a file
          </Title>
          <Text size="sm" c="dimmed">
            CSV, JSONL, NPZ or Parquet. The new version is checked and registered when the upload ends.
          </Text>
          <Input.Wrapper label="File" id={fileId} error={err("file") ?? err("format")} description="CSV, TSV, JSONL, NPZ or Parquet">
            <Input
              component="input"
              type="file"
              id={fileId}
              ref={fileInput}
              accept=".csv,.tsv,.txt,.jsonl,.json,.npz,.parquet"
              error={!!(err("file") ?? err("format"))}
              disabled={uploading}
              onChange={(e: ChangeEvent<HTMLInputElement>) => setFile(e.currentTarget.files?.[0] ?? null)}
              styles={{ input: { height: "auto", paddingBlock: 5 } }}
            />
          </Input.Wrapper>
          <TextInput label="Target column" description="The label column (CSV, JSONL) or array (NPZ)." value={target} onChange={(e) => setTarget(e.currentTarget.value)} error={err("target")} />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Delimiter" description="CSV only; default ','. Type \t for a tab." value={delimiter} onChange={(e) => setDelimiter(e.currentTarget.value)} error={err("delimiter")} maxLength={3} />
            <TextInput label="Missing-value tokens" description="Comma-separated; empty for NA, N/A, NaN, null, NULL." value={naValues} onChange={(e) => setNaValues(e.currentTarget.value)} error={err("na_values")} />
          </SimpleGrid>
          {progress !== null && (
            <Stack gap={4}>
              <Group justify="space-between">
                <Text size="sm" id="upload-progress-label">
                  Upload progress
                </Text>
                <Text size="sm" fw={600}>
                  {progress}%{progress === 100 ? " · checking the file…" : ""}
                </Text>
              </Group>
              <Progress value={progress} size="lg" striped animated={progress < 100} aria-label="Upload progress" />
            </Stack>
          )}
          {cancelled && (
            <Alert color="yellow" title="Upload cancelled">
              Nothing was registered.
            </Alert>
          )}
          {generalError !== null && (
            <Alert color="red" role="alert" title="The upload was refused">
              {errorMessage(generalError)}
            </Alert>
          )}
          <Group justify="flex-end">
            {uploading && (
              <Button variant="default" color="red" onClick={() => handle.current?.abort()}>
                Cancel upload
              </Button>
            )}
            <Button type="submit" loading={uploading} disabled={uploading}>
              Upload
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

function BuiltinImport({ datasetId, onCreated }: { datasetId: string; onCreated: (v: Version) => void }) {
  const [builtin, setBuiltin] = useState<string | null>("iris");
  const importer = useImportBuiltin(datasetId);
  const fieldErrors = importer.error instanceof ApiError ? importer.error.fieldErrors : {};
  return (
    <Card withBorder padding="md">
      <form
        aria-label="Import a built-in set"
        onSubmit={(e) => {
          e.preventDefault();
          if (builtin) importer.mutate(builtin as Schemas["BuiltinEnum"], { onSuccess: onCreated });
        }}
      >
        <Stack gap="sm">
          <Title order={4} size="h5">
            Import a built-in set
          </Title>
          <Text size="sm" c="dimmed">
            One of scikit-learn's bundled data sets, as a new version of this data set.
          </Text>
          <Select label="Built-in set" data={BUILTINS} value={builtin} onChange={setBuiltin} allowDeselect={false} error={fieldErrors.builtin?.join(" ")} />
          {importer.isError && !fieldErrors.builtin && (
            <Alert color="red" role="alert" title="The import was refused">
              {errorMessage(importer.error)}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button type="submit" loading={importer.isPending}>
              Import
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

export function UploadPanel({ datasetId, onCreated }: { datasetId: string; onCreated: (v: Version) => void }) {
  return (
    <SimpleGrid cols={{ base: 1, md: 2 }}>
      <FileUpload datasetId={datasetId} onCreated={onCreated} />
      <BuiltinImport datasetId={datasetId} onCreated={onCreated} />
    </SimpleGrid>
  );
}
