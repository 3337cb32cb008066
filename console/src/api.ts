import { createVaultClient, type VaultClient, type VaultErrorBody } from '../../client/index.js';

/** The token lives in this tab's sessionStorage only: never in a URL, never in localStorage. */
const TOKEN_KEY = 'cv.token';

export const TOKEN_PATTERN = /^cv_[A-Za-z0-9_-]{43}$/;

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export function clientFor(token: string): VaultClient {
  return createVaultClient({ baseUrl: window.location.origin, token });
}

/** What the console shows for any failure: the API's own message and request id. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiFailure carrying the vault's error body. */
export async function call<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch {
    throw new ApiFailure(0, 'network', '', null);
  }
  if (result.response.ok) return result.data as T;
  const body = result.error as VaultErrorBody | undefined;
  throw new ApiFailure(result.response.status, body?.error?.code ?? 'unknown', body?.error?.message ?? result.response.statusText, body?.error?.requestId ?? result.response.headers.get('x-request-id'));
}

/**
 * Downloads a bearer-protected file: fetched with the token in the Authorization header (a plain link
 * would need it in the URL), then handed to the browser as a blob.
 */
export async function download(token: string, path: string, filename: string): Promise<void> {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } }).catch(() => {
    throw new ApiFailure(0, 'network', '', null);
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => undefined)) as VaultErrorBody | undefined;
    throw new ApiFailure(response.status, body?.error?.code ?? 'unknown', body?.error?.message ?? response.statusText, body?.error?.requestId ?? null);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
