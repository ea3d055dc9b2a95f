/**
 * The process-job builder's logic: the ops and their fields read from the `process` kind's JSON Schema
 * (GET /api/v1/job-kinds/process/), the drafts the form edits, the spec they make, and where the API's
 * field errors (`spec.steps[1].column`) belong.
 */

export type FieldKind = "columns" | "column" | "enum" | "integer" | "number" | "boolean" | "value" | "mapping";

export interface OpField {
  name: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  /** enum choices; null means "none" */
  options?: (string | null)[];
  min?: number;
  max?: number;
  default?: unknown;
}

export interface OpSpec {
  op: string;
  fields: OpField[];
}

type Json = Record<string, unknown>;

function types(prop: Json): string[] {
  const t = prop.type;
  if (typeof t === "string") return [t];
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === "string");
  return [];
}

function fieldOf(name: string, prop: Json, required: boolean): OpField {
  const t = types(prop);
  const base = {
    name,
    required,
    description: typeof prop.description === "string" ? prop.description : undefined,
    default: prop.default,
  };
  if (Array.isArray(prop.enum)) {
    return { ...base, kind: "enum", options: prop.enum.filter((v) => v === null || typeof v === "string") as (string | null)[] };
  }
  if (t.includes("array")) return { ...base, kind: "columns" };
  if (t.includes("object")) return { ...base, kind: "mapping" };
  const minimum = typeof prop.minimum === "number" ? prop.minimum : typeof prop.exclusiveMinimum === "number" ? prop.exclusiveMinimum : undefined;
  const max = typeof prop.maximum === "number" ? prop.maximum : undefined;
  if (t.length > 0 && t.every((x) => x === "integer" || x === "null")) return { ...base, kind: "integer", min: minimum, max };
  if (t.length > 0 && t.every((x) => x === "number" || x === "integer" || x === "null"))
    return { ...base, kind: "number", min: minimum, max };
  if (t.length > 0 && t.every((x) => x === "boolean" || x === "null")) return { ...base, kind: "boolean" };
  if (name === "column" && t.length === 1 && t[0] === "string") return { ...base, kind: "column" };
  return { ...base, kind: "value" };
}

/** The ops a `process` spec schema allows, in its order, with their fields (`op` itself left out). */
export function processOps(specSchema: unknown): OpSpec[] {
  const steps = (specSchema as Json | undefined)?.properties as Json | undefined;
  const items = (steps?.steps as Json | undefined)?.items as Json | undefined;
  const variants = (items?.oneOf ?? items?.anyOf) as unknown;
  if (!Array.isArray(variants)) return [];
  const ops: OpSpec[] = [];
  for (const variant of variants as Json[]) {
    const props = (variant?.properties ?? {}) as Record<string, Json>;
    const op = props.op?.const ?? (Array.isArray(props.op?.enum) ? props.op.enum[0] : undefined);
    if (typeof op !== "string") continue;
    const required = new Set(Array.isArray(variant.required) ? (variant.required as string[]) : []);
    const fields = Object.entries(props)
      .filter(([name]) => name !== "op")
      .map(([name, prop]) => fieldOf(name, prop ?? {}, required.has(name)));
    ops.push({ op, fields });
  }
  return ops;
}

/** A step as the form edits it: raw values per field (columns: string[]; value and mapping: text). */
export interface StepDraft {
  key: string;
  op: string;
  values: Record<string, unknown>;
}

let counter = 0;
export function newStep(op: OpSpec): StepDraft {
  counter += 1;
  const values: Record<string, unknown> = {};
  for (const f of op.fields) {
    if (f.kind === "columns") values[f.name] = [];
    else if (f.kind === "boolean") values[f.name] = f.default === true;
    else if ((f.kind === "integer" || f.kind === "number") && typeof f.default === "number") values[f.name] = f.default;
    else if (f.kind === "enum" && typeof f.default === "string") values[f.name] = f.default;
    else values[f.name] = f.kind === "integer" || f.kind === "number" ? "" : f.kind === "column" || f.kind === "enum" ? null : "";
  }
  return { key: `s${counter}`, op: op.op, values };
}

/** The list with item `index` moved by `delta` (-1 up, +1 down); unchanged when it would leave the list. */
export function moveStep<T>(steps: T[], index: number, delta: number): T[] {
  const to = index + delta;
  if (index < 0 || index >= steps.length || to < 0 || to >= steps.length) return steps;
  const out = steps.slice();
  const [item] = out.splice(index, 1);
  out.splice(to, 0, item);
  return out;
}

/** Text typed as a value: JSON when it parses (40, true, null, "40"), else the text itself. */
export function parseValue(text: string): unknown {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

/** "a=1, b=2" or lines "a = 1" or a JSON object -> {a: 1, b: 2} (integers stay integers). */
export function parseMapping(text: string): Record<string, string | number> {
  const t = text.trim();
  if (t.startsWith("{")) {
    const parsed = JSON.parse(t) as unknown;
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("give a JSON object");
    return parsed as Record<string, string | number>;
  }
  const out: Record<string, string | number> = {};
  for (const part of t.split(/[\n,]/)) {
    if (!part.trim()) continue;
    const eq = part.indexOf("=");
    if (eq < 0) throw new Error(`'${part.trim()}' is not old=new`);
    const from = part.slice(0, eq).trim();
    const to = part.slice(eq + 1).trim();
    out[from] = /^-?\d+$/.test(to) ? Number(to) : to;
  }
  return out;
}

/** The spec steps the drafts make, or errors keyed like the API's (`spec.steps[0].mapping`). */
export function buildSteps(drafts: StepDraft[], ops: OpSpec[]): { steps: Json[]; errors: Record<string, string> } {
  const byOp = new Map(ops.map((o) => [o.op, o]));
  const errors: Record<string, string> = {};
  const steps = drafts.map((draft, i) => {
    const step: Json = { op: draft.op };
    const spec = byOp.get(draft.op);
    for (const field of spec?.fields ?? []) {
      const raw = draft.values[field.name];
      const where = `spec.steps[${i}].${field.name}`;
      const empty = raw === undefined || raw === null || raw === "" || (Array.isArray(raw) && raw.length === 0);
      if (empty) {
        if (field.required) errors[where] = "This field is required.";
        continue;
      }
      switch (field.kind) {
        case "columns":
          step[field.name] = raw;
          break;
        case "integer":
        case "number":
          step[field.name] = typeof raw === "number" ? raw : Number(raw);
          break;
        case "boolean":
          if (raw === true || field.required) step[field.name] = raw === true;
          break;
        case "value": {
          const text = String(raw);
          const operator = step.operator ?? draft.values.operator;
          step[field.name] =
            operator === "in" || operator === "not_in"
              ? text.trim().startsWith("[")
                ? parseValue(text)
                : text.split(",").map((v) => parseValue(v))
              : parseValue(text);
          break;
        }
        case "mapping":
          try {
            step[field.name] = parseMapping(String(raw));
          } catch (e) {
            errors[where] = e instanceof Error ? e.message : String(e);
          }
          break;
        default:
          step[field.name] = raw;
      }
    }
    return step;
  });
  return { steps, errors };
}

/** `spec.steps[1].column` -> {index: 1, field: "column"}; `spec.steps[2]` -> {index: 2, field: ""}; else null. */
export function stepErrorTarget(key: string): { index: number; field: string } | null {
  const m = key.match(/^(?:spec\.)?steps\[(\d+)\](?:\.([A-Za-z_]+))?/);
  if (!m) return null;
  return { index: Number(m[1]), field: m[2] ?? "" };
}

/** Human label of a field name: "fraction" -> "Fraction", "map_labels" -> "Map labels". */
export function labelOf(name: string): string {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
