/** Mantine Anchor and Button as typed TanStack Router links (`to`, `params`, `search` checked against the routes). */
import { Anchor, Button, type AnchorProps, type ButtonProps } from "@mantine/core";
import { createLink } from "@tanstack/react-router";
import { forwardRef, type AnchorHTMLAttributes } from "react";

const MantineAnchor = forwardRef<HTMLAnchorElement, AnchorProps & AnchorHTMLAttributes<HTMLAnchorElement>>(
  (props, ref) => <Anchor ref={ref} {...props} />,
);
const MantineButton = forwardRef<HTMLAnchorElement, ButtonProps & AnchorHTMLAttributes<HTMLAnchorElement>>(
  (props, ref) => <Button ref={ref} component="a" {...props} />,
);

export const AnchorLink = createLink(MantineAnchor);
export const ButtonLink = createLink(MantineButton);

/**
 * A link's search params naming only what it sets (the target route's validateSearch fills in the defaults,
 * which the routes' types would otherwise require): `search={partialSearch({ version: "3" })}`.
 */
export function partialSearch(search: Record<string, unknown>): never {
  return search as never;
}
