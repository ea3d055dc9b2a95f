import "@mantine/core/styles.css";
import { MantineProvider, TableScrollContainer, createTheme, type CSSVariablesResolver, type MantineColorsTuple } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ApiError } from "./api/client";
import { router } from "./router";

// Eco's green, darker than Mantine's own so white text on filled controls keeps a 4.5:1 contrast (WCAG AA)
const green: MantineColorsTuple = [
  "#e8f6ee", "#d3ebdd", "#a6d6ba", "#76c095", "#4fae77", "#36a164", "#279a5a", "#1a864a", "#1f7a4d", "#0f5f37",
];
const theme = createTheme({
  colors: { green },
  primaryColor: "green",
  primaryShade: 8,
  defaultRadius: "sm",
  components: {
    // a wide table scrolls sideways on a phone: natively, and focusable so a keyboard can scroll it (axe
    // scrollable-region-focusable)
    TableScrollContainer: TableScrollContainer.extend({ defaultProps: { type: "native", tabIndex: 0 } }),
  },
});
// Mantine's dimmed text (3.3:1 on white) and error messages darker (light) or lighter (dark) than Mantine's, for a 4.5:1 contrast
const contrast: CSSVariablesResolver = () => ({
  variables: {},
  light: { "--mantine-color-dimmed": "var(--mantine-color-gray-7)", "--mantine-color-error": "var(--mantine-color-red-9)" },
  dark: { "--mantine-color-dimmed": "var(--mantine-color-dark-1)", "--mantine-color-error": "var(--mantine-color-red-5)" },
});

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      // a 4xx will not change on retry; a network blip or 5xx may
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
    },
  },
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto" cssVariablesResolver={contrast}>
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
