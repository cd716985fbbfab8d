// Typed client of the Jarvis core API. The types come from openapi.json
// (src/schema.d.ts is generated: `go tool task generate`); requests go
// through openapi-fetch, so paths, bodies, parameters and responses are
// checked by the compiler.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];
export type TokenResponse = Schemas["TokenResponse"];
export type User = Schemas["User"];
export type Secret = Schemas["Secret"];
export type Session = Schemas["Session"];
export type Run = Schemas["Run"];
export type LLMCall = Schemas["LLMCall"];
export type UsageReport = Schemas["UsageReport"];
export type ApiError = Schemas["ErrorResponse"]["error"];
export type ErrorCode = ApiError["code"];

export interface ClientOptions {
  /** Returns the access token to send, if any. */
  accessToken?: () => string | undefined;
  fetch?: typeof globalThis.fetch;
}

export type JarvisClient = Client<paths>;

/** A client for the API at baseUrl (e.g. http://localhost:8080). */
export function createJarvisClient(baseUrl: string, options: ClientOptions = {}): JarvisClient {
  const client = createClient<paths>({ baseUrl, fetch: options.fetch });
  const auth: Middleware = {
    onRequest({ request }) {
      const token = options.accessToken?.();
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  };
  client.use(auth);
  return client;
}
