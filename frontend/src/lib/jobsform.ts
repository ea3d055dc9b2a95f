/**
 * The submit form's logic: the API's 400 `errors` (dotted paths such as `spec.hyperparameters.lr`) turned into
 * rjsf's `extraErrors` (a nested object with `__errors` lists), and the job fields outside the spec.
 */

/** rjsf's ErrorSchema shape: nested by field name (array items by index), messages in `__errors`. */
export interface ErrorTree {
  __errors?: string[];
  [field: string]: ErrorTree | string[] | undefined;
}

/** Fields of a job submission outside the spec; their errors show on the matching Mantine input. */
export const JOB_FIELDS = ["team", "kind", "priority", "resources", "max_retries", "timeout_s"] as const;

export interface SplitErrors {
  /** errors under `spec`, as rjsf extraErrors */
  spec: ErrorTree;
  /** errors of the job fields, by field name (`resources.pool` goes under `resources`) */
  fields: Record<string, string[]>;
  /** everything else (non_field_errors, unknown keys), as "key: message" lines */
  other: string[];
}

function add(tree: ErrorTree, path: string[], messages: string[]): void {
  let node = tree;
  for (const part of path) {
    const next = node[part];
    if (next === undefined || Array.isArray(next)) node[part] = {};
    node = node[part] as ErrorTree;
  }
  node.__errors = [...(node.__errors ?? []), ...messages];
}

/** Split an API error map into spec errors (rjsf extraErrors), job-field errors and the rest. */
export function splitErrors(errors: Record<string, string[] | string> | undefined | null): SplitErrors {
  const out: SplitErrors = { spec: {}, fields: {}, other: [] };
  for (const [key, raw] of Object.entries(errors ?? {})) {
    const messages = Array.isArray(raw) ? raw.map(String) : [String(raw)];
    if (key === "spec" || key.startsWith("spec.")) {
      const path = key === "spec" ? [] : key.slice(5).split(".").filter(Boolean);
      add(out.spec, path, messages);
      continue;
    }
    const head = key.split(".")[0];
    if ((JOB_FIELDS as readonly string[]).includes(head)) {
      const rest = key.slice(head.length + 1);
      out.fields[head] = [...(out.fields[head] ?? []), ...messages.map((m) => (rest ? `${rest}: ${m}` : m))];
      continue;
    }
    for (const m of messages) out.other.push(key === "non_field_errors" || key === "detail" ? m : `${key}: ${m}`);
  }
  return out;
}

/** Whether an error tree holds any message. */
export function hasErrors(tree: ErrorTree): boolean {
  for (const [key, value] of Object.entries(tree)) {
    if (key === "__errors") {
      if (Array.isArray(value) && value.length) return true;
    } else if (value && !Array.isArray(value) && hasErrors(value)) return true;
  }
  return false;
}

/**
 * Parse the resources box (a JSON object, blank for none). Returns the value, or an error message to show
 * on the field.
 */
export function parseResources(text: string): { value?: Record<string, unknown>; error?: string } {
  const t = text.trim();
  if (!t) return {};
  try {
    const v: unknown = JSON.parse(t);
    if (v === null || typeof v !== "object" || Array.isArray(v)) return { error: "Resources must be a JSON object." };
    return { value: v as Record<string, unknown> };
  } catch {
    return { error: "Resources is not valid JSON." };
  }
}

/** The id pickers the submit form offers, by rjsf widget name. */
export type PickerWidget = "datasetVersion" | "modelVersion" | "modelId" | "modelName";

type UiNode = { [key: string]: unknown };

function isStringy(prop: Record<string, unknown>): boolean {
  return prop.type === "string" || (Array.isArray(prop.type) && prop.type.includes("string"));
}

function isObjecty(prop: Record<string, unknown>): boolean {
  return prop.type === "object" || (Array.isArray(prop.type) && prop.type.includes("object"));
}

/** Defaults are not filled in (a hyperparameter left blank keeps the recipe's value): show them as hints. */
function defaultHints(prop: Record<string, unknown>): UiNode {
  if (!("default" in prop) || prop.default === null || typeof prop.default === "object") return {};
  const value = String(prop.default);
  if (prop.type === "boolean") return { "ui:help": `Default: ${value}` };
  return { "ui:placeholder": `default: ${value}` };
}

/**
 * The rjsf uiSchema for a kind's spec schema: top-level id fields get pickers filled from the API (a data set
 * version, a model version, a model), fields with a default show it as a hint (defaults are not filled in,
 * so a blank field is left to the server), and the root title is hidden (the page has its own headings).
 */
export function uiSchemaFor(schema: Record<string, unknown> | undefined): UiNode {
  const out: UiNode = { "ui:options": { label: false } };
  const props = (schema?.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, prop] of Object.entries(props)) {
    if (!prop || typeof prop !== "object") continue;
    const uuid = prop.format === "uuid";
    const stringy = isStringy(prop);
    let widget: PickerWidget | undefined;
    if (name === "dataset_version" && (uuid || stringy)) widget = "datasetVersion";
    else if ((name === "model_version" || name === "base_version") && (uuid || stringy)) widget = "modelVersion";
    else if (name === "model" && uuid) widget = "modelId";
    else if (name === "model" && stringy) widget = "modelName";
    if (widget) {
      out[name] = { "ui:widget": widget };
      continue;
    }
    const node: UiNode = { ...defaultHints(prop) };
    if (isObjecty(prop) && prop.properties && typeof prop.properties === "object") {
      for (const [child, childProp] of Object.entries(prop.properties as Record<string, Record<string, unknown>>)) {
        const hints = childProp && typeof childProp === "object" ? defaultHints(childProp) : {};
        if (Object.keys(hints).length) node[child] = hints;
      }
    }
    if (Object.keys(node).length) out[name] = node;
  }
  return out;
}

/**
 * The spec of an existing job, as form data for resubmitting it: a copy, without the top-level keys the
 * kind's schema does not allow (the server adds some, such as `model_name`, that a new submission may not
 * carry; a `model_name` fills an empty `model`). A non-object spec gives an empty form.
 */
export function specOf(job: { spec?: unknown } | undefined, schema?: Record<string, unknown>): Record<string, unknown> {
  const spec = job?.spec;
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) return {};
  const copy = structuredClone(spec as Record<string, unknown>);
  const props = schema?.properties as Record<string, unknown> | undefined;
  // a train job that created its model keeps the name in `model_name` (and `model` null): resubmit by name
  if ((copy.model === null || copy.model === undefined) && typeof copy.model_name === "string") copy.model = copy.model_name;
  if (props && schema?.additionalProperties === false) {
    for (const key of Object.keys(copy)) if (!(key in props)) delete copy[key];
  }
  return copy;
}

function typeOfValue(v: unknown): Record<string, unknown> | null {
  if (typeof v === "boolean") return { type: "boolean" };
  if (typeof v === "number") return { type: Number.isInteger(v) ? "integer" : "number" };
  if (typeof v === "string") return { type: "string" };
  if (Array.isArray(v)) return { type: "array", ...(v.length && typeOfValue(v[0]) ? { items: typeOfValue(v[0]) } : {}) };
  return null;
}

const TYPED = ["type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items"];

/**
 * A copy of a spec schema in which a property with only a default (some kinds give architecture options as
 * `{"default": 64}`) gets the type of its default, so rjsf can draw an input for it instead of refusing it.
 */
export function withDefaultTypes<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((s) => withDefaultTypes(s)) as T;
  if (!schema || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema as Record<string, unknown>)) {
    if (k === "properties" && v && typeof v === "object" && !Array.isArray(v)) {
      const props: Record<string, unknown> = {};
      for (const [name, prop] of Object.entries(v as Record<string, unknown>)) {
        let p: unknown = withDefaultTypes(prop);
        if (p && typeof p === "object" && !Array.isArray(p) && "default" in p && !TYPED.some((t) => t in (p as object))) {
          const inferred = typeOfValue((p as Record<string, unknown>).default);
          if (inferred) p = { ...inferred, ...p };
        }
        props[name] = p;
      }
      out[k] = props;
    } else out[k] = k === "default" || k === "const" || k === "enum" ? v : withDefaultTypes(v);
  }
  return out as T;
}
