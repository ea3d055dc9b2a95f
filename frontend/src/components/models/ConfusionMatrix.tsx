/**
 * A confusion matrix as an accessible heat map: a real table (row headers = true label, column headers =
 * predicted) whose cells carry their counts and are shaded by their share of the row.
 */
import { Table, Text, VisuallyHidden } from "@mantine/core";
import { HEAT, heatIndex, type ConfusionMatrix as Matrix } from "../../lib/models";

export function ConfusionMatrix({ cm, caption }: { cm: Matrix; caption: string }) {
  const totals = cm.matrix.map((row) => row.reduce((a, b) => a + b, 0));
  return (
    <div>
    <Text size="sm" c="dimmed" mb={4}>
      {caption}: rows are the true label, columns the predicted one; shade = share of the row.
    </Text>
    <Table.ScrollContainer minWidth={Math.max(240, 64 + cm.labels.length * 44)}>
      <Table withTableBorder withColumnBorders verticalSpacing={4} horizontalSpacing={6} style={{ width: "auto" }}>
        <VisuallyHidden component="caption">
          Confusion matrix, {caption}
        </VisuallyHidden>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">
              <Text size="xs" component="span">
                true \ predicted
              </Text>
            </Table.Th>
            {cm.labels.map((l) => (
              <Table.Th key={l} scope="col" ta="center">
                {l}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {cm.matrix.map((row, i) => (
            <Table.Tr key={cm.labels[i]}>
              <Table.Th scope="row">{cm.labels[i]}</Table.Th>
              {row.map((count, j) => {
                const shade = heatIndex(count, totals[i]);
                return (
                  <Table.Td
                    key={j}
                    ta="center"
                    title={`true ${cm.labels[i]}, predicted ${cm.labels[j]}: ${count}`}
                    style={{
                      // an empty cell takes the page's own colours (no pale block on a dark page)
                      background: shade === 0 ? undefined : HEAT[shade],
                      color: shade === 0 ? undefined : "#1a1b1e",
                      fontWeight: i === j ? 700 : 400,
                      minWidth: 36,
                      fontVariantNumeric: "tabular-nums",
                    }}
                  >
                    {count}
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
    </div>
  );
}
