import type { Schemas } from "../../api/client";

/** A job as the list answers it (with its metric summaries and flattened params). */
export type JobRow = Schemas["Job"];
