import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatSeconds, timeAgo } from "./overviewFormat";

describe("formats", () => {
  it("formatBytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.50 KB");
    expect(formatBytes(15 * 1024 * 1024)).toBe("15.0 MB");
    expect(formatBytes(null)).toBe("—");
  });
  it("formatSeconds", () => {
    expect(formatSeconds(0)).toBe("0 s");
    expect(formatSeconds(4.25)).toBe("4.3 s");
    expect(formatSeconds(42)).toBe("42 s");
    expect(formatSeconds(3725)).toBe("1 h 2 min");
    expect(formatSeconds(3600)).toBe("1 h");
    expect(formatSeconds(90061)).toBe("1 d 1 h");
  });
  it("formatCount", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(undefined)).toBe("—");
  });
  it("timeAgo", () => {
    const now = Date.parse("2025-01-01T12:00:00Z");
    expect(timeAgo("2025-01-01T11:59:50Z", now)).toBe("just now");
    expect(timeAgo("2025-01-01T11:55:00Z", now)).toBe("5 min ago");
    expect(timeAgo("2025-01-01T09:00:00Z", now)).toBe("3 h ago");
    expect(timeAgo(null, now)).toBe("—");
  });
});
