/**
 * A multipart upload through XMLHttpRequest, since fetch cannot report upload progress: `upload.onprogress`
 * drives the progress bar, `abort()` cancels. Resolves with the parsed 2xx body; rejects with an ApiError
 * (the API's error body, field errors included) or an UploadAborted.
 */
import { ApiError, csrfToken, type ErrorBody } from "../api/client";

export class UploadAborted extends Error {
  constructor() {
    super("The upload was cancelled.");
    this.name = "UploadAborted";
  }
}

export interface UploadHandle<T> {
  promise: Promise<T>;
  abort: () => void;
}

/** Percent of `loaded` over `total` (0..100, whole numbers); 0 while the total is unknown. */
export function percent(loaded: number, total: number): number {
  if (!total || total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.round((loaded / total) * 100)));
}

export function uploadForm<T>(
  url: string,
  form: FormData,
  onProgress: (percent: number) => void,
  makeXhr: () => XMLHttpRequest = () => new XMLHttpRequest(),
): UploadHandle<T> {
  const xhr = makeXhr();
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open("POST", url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event: ProgressEvent) => {
      if (event.lengthComputable) onProgress(percent(event.loaded, event.total));
    };
    xhr.onload = () => {
      let body: unknown;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(100);
        resolve(body as T);
      } else {
        reject(new ApiError(xhr.status, body as Partial<ErrorBody> | undefined));
      }
    };
    xhr.onerror = () => reject(new Error("The upload failed: the server could not be reached."));
    xhr.onabort = () => reject(new UploadAborted());
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
