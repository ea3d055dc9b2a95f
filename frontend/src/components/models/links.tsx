/** Typed in-app links styled as Mantine anchors (Mantine's polymorphic `component` loses the router's types). */
import { Anchor, Button, type AnchorProps, type ButtonProps } from "@mantine/core";
import { Link } from "@tanstack/react-router";
import type { ReactNode } from "react";
import type { MODEL_TABS } from "../../router";

type Tab = (typeof MODEL_TABS)[number];

export function ModelLink({
  modelId,
  version,
  tab = "versions",
  children,
  ...props
}: { modelId: string; version?: string; tab?: Tab; children: ReactNode } & AnchorProps) {
  return (
    <Anchor
      underline="always"
      {...props}
      renderRoot={(p) => <Link {...p} to="/models/$modelId" params={{ modelId }} search={{ tab, version, evaluation: undefined }} />}
    >
      {children}
    </Anchor>
  );
}

export function JobLink({ jobId, children, ...props }: { jobId: string; children: ReactNode } & AnchorProps) {
  return (
    <Anchor underline="always" {...props} renderRoot={(p) => <Link {...p} to="/jobs/$jobId" params={{ jobId }} search={{}} />}>
      {children}
    </Anchor>
  );
}

export function DatasetLink({
  datasetId,
  version,
  children,
  ...props
}: { datasetId: string; version?: string; children: ReactNode } & AnchorProps) {
  return (
    <Anchor
      underline="always"
      {...props}
      renderRoot={(p) => (
        <Link {...p} to="/datasets/$datasetId" params={{ datasetId }} search={{ tab: "versions", version }} />
      )}
    >
      {children}
    </Anchor>
  );
}

/** A button-styled link to a model's sub-page (promote, timeline, serving). */
export function ModelPageButton({
  modelId,
  page,
  version,
  alias,
  children,
  ...props
}: { modelId: string; page: "promote" | "timeline" | "serving"; version?: string; alias?: string; children: ReactNode } & ButtonProps) {
  return (
    <Button
      {...props}
      renderRoot={(p) =>
        page === "promote" ? (
          <Link {...p} to="/models/$modelId/promote" params={{ modelId }} search={{ alias: alias ?? "production", version }} />
        ) : page === "serving" ? (
          <Link {...p} to="/models/$modelId/serving" params={{ modelId }} search={{ version, range: "24h" }} />
        ) : (
          <Link {...p} to="/models/$modelId/timeline" params={{ modelId }} />
        )
      }
    >
      {children}
    </Button>
  );
}
