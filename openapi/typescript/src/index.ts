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
export type Memory = Schemas["Memory"];
export type MemoryHit = Schemas["MemoryHit"];
export type Entity = Schemas["Entity"];
export type Relation = Schemas["Relation"];
export type Neighbor = Schemas["Neighbor"];
export type Run = Schemas["Run"];
export type LLMCall = Schemas["LLMCall"];
export type UsageReport = Schemas["UsageReport"];
export type ApiError = Schemas["ErrorResponse"]["error"];
/** What an agent worker sends to POST /v1/runs/{id}/events. */
export type RunEventCreate = Schemas["RunEventCreate"];
/** What an agent worker sends to POST /v1/runs/{id}/event-batches: 1 to 100 events, all or none. */
export type RunEventBatch = Schemas["RunEventBatch"];
/** An event on the GET /v1/ws WebSocket (docs/realtime.md). */
export type RealtimeEvent = Schemas["RealtimeEvent"];
/** A message on GET /v1/ws that is not an event: connected, subscribed, resumed, pong, error, ... */
export type RealtimeReply = Schemas["RealtimeReply"];
/** A message a client sends on GET /v1/ws. */
export type RealtimeClientMessage = Schemas["RealtimeClientMessage"];
export type RealtimeServerMessage = RealtimeEvent | RealtimeReply;

/** The subprotocols that authenticate a browser's WebSocket without putting the token in the URL. */
export function realtimeProtocols(accessToken: string): string[] {
  return ["jarvis.v1", `bearer.${accessToken}`];
}
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

export { Sessions, AuthError, memoryStorage } from "./sessions.js";
export type { Session as AuthSession, SessionOptions, TokenStorage, AuthEvent, AuthListener } from "./sessions.js";
export { Realtime, CloseCode } from "./realtime.js";
export type {
  EventData,
  EventHandlers,
  TypedEvent,
  Subscription,
  RealtimeState,
  RealtimeOptions,
  ResyncInfo,
  RealtimeError,
  WebSocketLike,
  WebSocketConstructor,
} from "./realtime.js";

/** One line of GET /v1/me/export (docs/operations.md: format jarvis.export, version 1). */
export type ExportLine =
  | {
      type: "header";
      format: "jarvis.export";
      version: number;
      user_id: string;
      exported_at: string;
      embeddings: boolean;
      tables: string[];
    }
  | { type: "row"; table: string; data: Record<string, unknown> }
  | { type: "end"; counts: Record<string, number> };

/**
 * Everything the service holds about the signed-in user, read line by line as
 * it streams (GET /v1/me/export, NDJSON): the header, one line per row, then
 * the end line. The generated types see the body as a binary stream; this
 * parses it. Throws the API's error for a refused request, and an Error when
 * the stream ends without its end line (the export was cut short).
 */
export async function* exportMe(
  client: JarvisClient,
  options: { embeddings?: boolean } = {},
): AsyncGenerator<ExportLine> {
  const { data, error, response } = await client.GET("/v1/me/export", {
    params: { query: options.embeddings ? { embeddings: true } : {} },
    parseAs: "stream",
  });
  if (error !== undefined || !data) {
    throw Object.assign(new Error(`export refused: ${response.status}`), { status: response.status, error });
  }
  const reader = (data as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let ended = false;
  for (;;) {
    const { value, done } = await reader.read();
    buffered += done ? decoder.decode() : decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (text === "") continue;
      const line = JSON.parse(text) as ExportLine;
      if (line.type === "end") ended = true;
      yield line;
    }
    if (done) break;
  }
  if (!ended) throw new Error("export cut short: no end line");
}
