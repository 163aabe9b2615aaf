// The HTTP API: every call with the signed-in user's bearer token. Errors
// come back as ApiError with our `{"error": {code, message}}` or API
// Gateway's own `{"message"}`.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function client(baseUrl, token, onUnauthorized) {
  const base = baseUrl.replace(/\/$/, "");
  return async function request(method, path, body) {
    const init = { method, headers: { authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`${base}${path}`, init);
    } catch {
      throw new ApiError(0, "network", "The API could not be reached. Check your connection and try again.");
    }
    if (response.status === 204) return null;
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (response.ok) return answer;
    if (response.status === 401) onUnauthorized();
    const error = answer && answer.error;
    const retry = response.headers.get("retry-after");
    let message = (error && error.message) || (answer && answer.message) || `The API answered ${response.status}.`;
    if (retry) message += ` Try again in ${retry} s.`;
    throw new ApiError(response.status, (error && error.code) || "http_" + response.status, message);
  };
}

/**
 * PUTs a file straight to its presigned URL with exactly the signed headers
 * (the browser sets content-length itself), reporting progress 0–100.
 */
export function putFile(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method || "PUT", upload.upload_url);
    for (const [name, value] of Object.entries(upload.headers || {})) {
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.floor((event.loaded / event.total) * 100));
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(100);
        resolve();
      } else {
        reject(new ApiError(xhr.status, "upload_refused", `The storage refused the video (${xhr.status}).`));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "network", "The video could not be sent. Check your connection and try again.")),
    );
    xhr.send(file);
  });
}
