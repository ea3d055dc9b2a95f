import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { percent, UploadAborted, uploadForm } from "./datasetsUpload";

class FakeXhr {
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  status = 0;
  responseText = "";
  withCredentials = false;
  headers: Record<string, string> = {};
  opened: [string, string] | null = null;
  sent: unknown = null;
  open(method: string, url: string) {
    this.opened = [method, url];
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v;
  }
  send(body: unknown) {
    this.sent = body;
  }
  abort() {
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total } as ProgressEvent);
  }
  finish(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

describe("percent", () => {
  it("rounds and clamps", () => {
    expect(percent(1, 3)).toBe(33);
    expect(percent(5, 0)).toBe(0);
    expect(percent(7, 5)).toBe(100);
  });
});

describe("uploadForm", () => {
  it("reports progress and resolves with the body", async () => {
    const xhr = new FakeXhr();
    const seen: number[] = [];
    const form = new FormData();
    const handle = uploadForm<{ id: string }>("/api/x/", form, (p) => seen.push(p), () => xhr as unknown as XMLHttpRequest);
    expect(xhr.opened).toEqual(["POST", "/api/x/"]);
    expect(xhr.sent).toBe(form);
    expect("X-CSRFToken" in xhr.headers).toBe(true);
    xhr.progress(25, 100);
    xhr.progress(50, 100);
    xhr.finish(201, { id: "v" });
    await expect(handle.promise).resolves.toEqual({ id: "v" });
    expect(seen).toEqual([25, 50, 100]);
  });

  it("rejects with the API's field errors", async () => {
    const xhr = new FakeXhr();
    const handle = uploadForm("/api/x/", new FormData(), vi.fn(), () => xhr as unknown as XMLHttpRequest);
    xhr.finish(400, { status: 400, code: "invalid", detail: "target: no", errors: { target: ["no"] } });
    const error = await handle.promise.catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).fieldErrors).toEqual({ target: ["no"] });
  });

  it("rejects with UploadAborted when cancelled", async () => {
    const xhr = new FakeXhr();
    const handle = uploadForm("/api/x/", new FormData(), vi.fn(), () => xhr as unknown as XMLHttpRequest);
    handle.abort();
    await expect(handle.promise).rejects.toBeInstanceOf(UploadAborted);
  });
});
