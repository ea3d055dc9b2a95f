/**
 * The job's log tail: reads every line once (GET logs/?after=N), then appends new lines every 2 s while the
 * job runs. A search box (?log= in the URL) keeps only matching lines and highlights the match. The box
 * scrolls and follows the end unless the reader has scrolled up.
 */
import { Box, Group, Paper, ScrollArea, Text, TextInput } from "@mantine/core";
import { useDebouncedCallback } from "@mantine/hooks";
import { useEffect, useMemo, useRef, useState } from "react";
import { api, unwrap } from "../../api/client";
import { appendLines, matchParts, type LogLine } from "../../lib/series";
import { ErrorState, Loading } from "../states";

const PAGE = 1000;
export const LOG_POLL_MS = 2000;

async function readFrom(jobId: string, after: number): Promise<LogLine[]> {
  return (
    await unwrap(api.GET("/api/v1/jobs/{id}/logs/", { params: { path: { id: jobId }, query: { after, limit: PAGE } } }))
  ).results;
}

export function LogTail({
  jobId,
  live,
  search,
  onSearch,
}: {
  jobId: string;
  live: boolean;
  search: string;
  onSearch: (q: string) => void;
}) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<{ loading: boolean; error: unknown }>({ loading: true, error: null });
  const linesRef = useRef(lines);
  linesRef.current = lines;

  useEffect(() => {
    linesRef.current = [];
    setLines([]);
    setState({ loading: true, error: null });
  }, [jobId]);

  // Read whatever follows the last line held; again every 2 s while the job runs, and once more when it stops.
  useEffect(() => {
    let stopped = false;
    let busy = false;
    const read = async () => {
      if (busy) return;
      busy = true;
      try {
        for (let round = 0; round < 20 && !stopped; round++) {
          const held = linesRef.current;
          const after = held.length ? held[held.length - 1].id : 0;
          const fresh = await readFrom(jobId, after);
          if (stopped) return;
          setLines((l) => appendLines(l, fresh));
          linesRef.current = appendLines(linesRef.current, fresh);
          if (fresh.length < PAGE) break;
        }
        setState({ loading: false, error: null });
      } catch (error) {
        if (!stopped) setState({ loading: false, error });
      } finally {
        busy = false;
      }
    };
    void read();
    if (!live) return () => void (stopped = true);
    const timer = setInterval(read, LOG_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [jobId, live]);

  const [draft, setDraft] = useState(search);
  useEffect(() => setDraft(search), [search]);
  const commit = useDebouncedCallback((q: string) => onSearch(q), 300);

  const shown = useMemo(() => {
    const out: { line: LogLine; parts: { text: string; match: boolean }[] }[] = [];
    for (const line of lines) {
      const parts = matchParts(line.line, search);
      if (parts) out.push({ line, parts });
    }
    return out;
  }, [lines, search]);

  // Follow the end unless the reader scrolled away from it.
  const viewport = useRef<HTMLDivElement>(null);
  const atEnd = useRef(true);
  useEffect(() => {
    const v = viewport.current;
    if (v && atEnd.current) v.scrollTop = v.scrollHeight;
  }, [shown]);

  return (
    <Paper withBorder radius="md" p="sm">
      <Group justify="space-between" align="end" mb="xs" wrap="wrap">
        <TextInput
          label="Search log"
          placeholder="text to find"
          value={draft}
          onChange={(e) => {
            setDraft(e.currentTarget.value);
            commit(e.currentTarget.value);
          }}
          w={{ base: "100%", sm: 320 }}
        />
        <Text size="xs" c="dimmed" aria-live="polite">
          {search ? `${shown.length} of ${lines.length} lines match` : `${lines.length} lines`}
          {live ? " · following" : ""}
        </Text>
      </Group>
      {state.error ? (
        <ErrorState error={state.error} title="Could not read the log" />
      ) : state.loading && !lines.length ? (
        <Loading label="Loading log…" />
      ) : (
        <ScrollArea.Autosize
          mah={360}
          viewportRef={viewport}
          onScrollPositionChange={({ y }) => {
            const v = viewport.current;
            if (v) atEnd.current = y + v.clientHeight >= v.scrollHeight - 8;
          }}
          type="auto"
          // the viewport is what scrolls, so it takes the keyboard focus and the name
          viewportProps={{ tabIndex: 0, role: "log", "aria-label": "Job log" }}
        >
          <Box
            component="pre"
            m={0}
            ff="monospace"
            fz="xs"
            style={{ whiteSpace: "pre-wrap", wordBreak: "break-word", lineHeight: 1.5 }}
          >
            {shown.length === 0 ? (
              <Text span c="dimmed" fz="xs">
                {lines.length ? "No line matches." : "No log lines yet."}
              </Text>
            ) : (
              shown.map(({ line, parts }) => (
                <div key={line.id}>
                  <Text span c="dimmed" fz="xs" ff="monospace">
                    {line.time.slice(11, 19)}{" "}
                  </Text>
                  {parts.map((p, i) => (p.match ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
                </div>
              ))
            )}
          </Box>
        </ScrollArea.Autosize>
      )}
    </Paper>
  );
}
