import { createJarvisClient, type TokenResponse } from "./index.js";

// Signs in, lists the user's secrets page by page, renews the session with
// the refresh token, then signs out. Returns "provider/name …last4" per secret.
export async function listMySecrets(baseUrl: string, email: string, password: string): Promise<string[]> {
  let tokens: TokenResponse | undefined;
  // The client asks for the access token on every request.
  const api = createJarvisClient(baseUrl, { accessToken: () => tokens?.access_token });

  // Errors are returned, not thrown: `error` is the API's error body, typed
  // (its `code` is one of the spec's codes).
  const login = await api.POST("/v1/auth/login", { body: { email, password } });
  if (login.error) throw new Error(`login: ${login.error.error.code}`);
  tokens = login.data;

  // Newest first; next_cursor is absent on the last page. Values are never
  // returned, only their last four characters.
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.GET("/v1/secrets", { params: { query: { limit: 20, cursor } } });
    if (page.error) throw new Error(`list secrets: ${page.error.error.code}`);
    names.push(...page.data.items.map((s) => `${s.provider}/${s.name} …${s.last4}`));
    cursor = page.data.next_cursor;
  } while (cursor);

  // Access tokens are short-lived (expires_in seconds). Trade the refresh
  // token for a new pair before then; the old refresh token stops working.
  const refreshed = await api.POST("/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
  if (refreshed.error) throw new Error(`refresh: ${refreshed.error.error.code}`);
  tokens = refreshed.data;

  const logout = await api.POST("/v1/auth/logout", { body: {} });
  if (logout.error) throw new Error(`logout: ${logout.error.error.code}`);
  return names;
}
