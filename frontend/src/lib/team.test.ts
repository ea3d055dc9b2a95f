import { describe, expect, it } from "vitest";
import { actionGroups, auditQuery, dayBound, expiryDays, pageCount, summarizeData, toDay, tokenState } from "./team";

describe("auditQuery", () => {
  it("sends only the filters that are set, with the page", () => {
    expect(auditQuery("demo", { page: 1 })).toEqual({ team: "demo", page: 1, page_size: 25 });
  });
  it("filters by prefix when the action ends with a dot", () => {
    expect(auditQuery("demo", { page: 2, action: "job." })).toMatchObject({ action__startswith: "job.", page: 2 });
    expect(auditQuery("demo", { page: 1, action: " job.submit " })).toMatchObject({ action: "job.submit" });
    expect(auditQuery("demo", { page: 1, action: "job." })).not.toHaveProperty("action");
  });
  it("turns days into the start and end of the local day", () => {
    const q = auditQuery("demo", { page: 1, since: "2024-03-01", until: "2024-03-02", actor: "ann" });
    expect(q.actor).toBe("ann");
    expect(new Date(q.since!).getTime()).toBe(new Date(2024, 2, 1, 0, 0, 0, 0).getTime());
    expect(new Date(q.until!).getTime()).toBe(new Date(2024, 2, 2, 23, 59, 59, 999).getTime());
  });
  it("ignores malformed days and clamps the page", () => {
    const q = auditQuery("demo", { page: 0, since: "yesterday", until: "2024-02-30" });
    expect(q.since).toBeUndefined();
    expect(q.until).toBeUndefined();
    expect(q.page).toBe(1);
  });
});

describe("helpers", () => {
  it("dayBound and toDay round-trip", () => {
    expect(toDay(new Date(dayBound("2025-12-31", true)!))).toBe("2025-12-31");
    expect(toDay(null)).toBeUndefined();
  });
  it("pageCount", () => {
    expect(pageCount(0)).toBe(1);
    expect(pageCount(25)).toBe(1);
    expect(pageCount(26)).toBe(2);
  });
  it("actionGroups lists each prefix once", () => {
    expect(actionGroups(["job.submit", "job.cancel", "model.create"])).toEqual(["job.", "model."]);
  });
  it("tokenState", () => {
    const now = Date.parse("2025-01-02T00:00:00Z");
    expect(tokenState({}, now)).toBe("active");
    expect(tokenState({ revoked_at: "2025-01-01T00:00:00Z" }, now)).toBe("revoked");
    expect(tokenState({ expires_at: "2025-01-01T00:00:00Z" }, now)).toBe("expired");
    expect(tokenState({ expires_at: "2025-02-01T00:00:00Z" }, now)).toBe("active");
  });
  it("expiryDays", () => {
    expect(expiryDays("")).toBeUndefined();
    expect(expiryDays("0")).toBe(0);
    expect(expiryDays("90")).toBe(90);
    expect(expiryDays("x")).toBeUndefined();
  });
  it("summarizeData", () => {
    expect(summarizeData(null)).toBe("");
    expect(summarizeData({ role: "admin", n: 2 })).toBe("role: admin, n: 2");
    expect(summarizeData({ a: { b: 1 } })).toBe('a: {"b":1}');
    expect(summarizeData({ s: "x".repeat(200) }, 20)).toHaveLength(20);
  });
});
