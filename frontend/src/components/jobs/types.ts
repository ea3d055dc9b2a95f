import type { Schemas } from "../../api/client";
import type { SummaryLike } from "../../lib/metricsummary";

/** A job as the list answers it (with its metric summaries and flattened params: branch a adds them). */
export type JobRow = Schemas["Job"] & {
  metric_summaries?: Record<string, SummaryLike | undefined>;
  params?: Record<string, unknown>;
};
