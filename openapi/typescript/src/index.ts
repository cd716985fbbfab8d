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
