// The realtime client of GET /v1/ws (docs/realtime.md): typed handlers for
// a run's events and the user's stream, a lazy connection, header auth in
// Node and subprotocol auth in browsers (never the token in a URL),
// reconnection with exponential backoff and jitter that resumes from the
// last epoch and seq, a resync callback when the server says the missed
// events are gone, auth renewal on the open socket before the token expires,
// and an answer to every documented close code. Every event reaches a
// handler at most once, across any number of reconnects: the client keeps
// the last seq it delivered and drops anything at or below it.
import type { Schemas } from "./index.js";
import type { Sessions } from "./sessions.js";

export type RealtimeEvent = Schemas["RealtimeEvent"];
export type RealtimeEventType = Schemas["RealtimeEventType"];
type Reply = Schemas["RealtimeReply"];
type ClientMessage = Schemas["RealtimeClientMessage"];

/** Each event type's data: the spec's schema where it has one. */
export interface EventData {
  "agent.token": Schemas["AgentTokenData"];
  "agent.tool_call": Schemas["AgentToolCallData"];
  "agent.tool_result": Schemas["AgentToolResultData"];
  "agent.final": Schemas["AgentFinalData"];
  "agent.error": Schemas["AgentErrorData"];
  "run.status": Record<string, unknown>;
  "run.message": Record<string, unknown>;
  "budget.warning": Record<string, unknown>;
}

/** An event whose data is typed by its type. */
export type TypedEvent<T extends RealtimeEventType = RealtimeEventType> = T extends RealtimeEventType
  ? Omit<RealtimeEvent, "type" | "data"> & { type: T; data: EventData[T] }
  : never;

/** Handlers by event type; "*" gets every event (after the typed handler). */
export type EventHandlers = { [T in RealtimeEventType]?: (event: TypedEvent<T>) => void } & {
  "*"?: (event: TypedEvent) => void;
};

export interface Subscription {
  /** Resolves when the server confirmed the subscription: events of the run emitted from then on arrive. */
  ready: Promise<void>;
  unsubscribe(): void;
}

/** What the client is doing; onState is told of every change. */
export type RealtimeState =
  | "idle" // nothing to listen to, no socket
  | "connecting"
  | "open" // subscribed and resumed: events flow
  | "reconnecting" // waiting out a backoff
  | "signed_out" // no token, or the server said 4001: waits for a sign-in
  | "stopped"; // closed by close(), or a code that must not be retried (4029, 1009)

export interface ResyncInfo {
  /** The stream position events now continue from. */
  epoch: string;
  seq: number;
  /** Why: the history was trimmed, or the stream was recreated (new epoch). */
  reason: "trimmed" | "new_epoch";
}

export interface RealtimeError {
  /** A close code (4001, 4029, 1009, ...) or a server error code (VALIDATION_ERROR, ...). */
  code: number | string;
  message: string;
}

/** The part of a WebSocket this client uses: the browser's and the ws package's both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** The ws package's constructor takes a third argument with headers; the browser's does not. */
export type WebSocketConstructor = new (
  url: string,
  protocols: string[],
  options?: { headers: Record<string, string> },
) => WebSocketLike;

export interface RealtimeOptions {
  /** The API's base URL (http(s)://host[:port]); the socket goes to ws(s)://…/v1/ws. */
  baseUrl: string;
  /** Where tokens come from: a Sessions (renewal follows its refreshes), or a function. */
  auth: Sessions | ((minValidity: number) => Promise<string | undefined> | string | undefined);
  /** The WebSocket class: the global one by default; in Node 20 pass the ws package's. */
  WebSocket?: WebSocketConstructor;
  /** "header" (Authorization, Node) or "subprotocol" (browsers). Default: by environment. */
  authMode?: "header" | "subprotocol";
  /** Backoff between reconnects: min(max, min·2^attempt), jittered to 50–100 % of it. */
  backoff?: { min?: number; max?: number };
  /** Renew auth on the open socket this many ms before the token expires (default 30 s, at most a third of its life). */
  renewBefore?: number;
  /** Client heartbeat: a ping every interval ms, the socket is dropped when no pong within timeout ms. */
  heartbeat?: { interval: number; timeout: number } | false;
  /** Called when missed events are gone: reload state from the API. */
  onResync?: (info: ResyncInfo) => void;
  onState?: (state: RealtimeState) => void;
  onError?: (error: RealtimeError) => void;
}

// The protocol's close codes (docs/realtime.md).
export const CloseCode = {
  Shutdown: 1001,
  TooBig: 1009,
  Unauthorized: 4001,
  TokenExpired: 4002,
  SlowConsumer: 4008,
  Resync: 4009,
  TooManySockets: 4029,
} as const;

const subprotocol = "jarvis.v1";
const OPEN = 1;

interface Listener {
  runId?: string; // undefined: the whole user stream
  handlers: EventHandlers;
}

/**
 * One socket per Realtime, opened when the first subscription is made.
 * Subscribe to runs with subscribeRun and to the user's stream with
 * subscribeUser; both survive reconnects.
 */
export class Realtime {
  private readonly opts: RealtimeOptions;
  private readonly WS: WebSocketConstructor;
  private readonly mode: "header" | "subprotocol";
  private listeners = new Set<Listener>();
  private runs = new Map<string, number>(); // run id → listener count
  private confirmed = new Set<string>(); // run ids the current socket confirmed
  private waiting = new Map<string, (() => void)[]>(); // run id → ready resolvers
  private ws: WebSocketLike | undefined;
  private state: RealtimeState = "idle";
  // The position of the last event delivered: where a reconnect resumes.
  private epoch: string | undefined;
  private seq: number | undefined;
  private startSeq = 0; // the current socket's connected seq
  private token: string | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private unlistenAuth: (() => void) | undefined;
  private nextId = 0;

  constructor(options: RealtimeOptions) {
    this.opts = options;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new Error("realtime: no WebSocket class: pass the ws package's in Node 20 (options.WebSocket)");
    this.WS = WS;
    this.mode = options.authMode ?? (typeof document === "undefined" ? "header" : "subprotocol");
    if (typeof options.auth !== "function") {
      this.unlistenAuth = options.auth.onAuthStateChange((event, session) => this.authChanged(event, session?.access_token));
    }
  }

  /** Receive a run's events (and nothing else) until unsubscribe. */
  subscribeRun(runId: string, handlers: EventHandlers): Subscription {
    const l: Listener = { runId, handlers };
    this.listeners.add(l);
    const n = this.runs.get(runId) ?? 0;
    this.runs.set(runId, n + 1);
    if (n === 0 && this.state === "open") this.send({ type: "subscribe", run_id: runId });
    const ready = this.confirmed.has(runId)
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.waiting.set(runId, [...(this.waiting.get(runId) ?? []), resolve]));
    this.wake();
    return { ready, unsubscribe: () => this.remove(l) };
  }

  /** Receive every event of the socket: the user's own and those of the runs subscribed. */
  subscribeUser(handlers: EventHandlers): Subscription {
    const l: Listener = { handlers };
    this.listeners.add(l);
    this.wake();
    return { ready: Promise.resolve(), unsubscribe: () => this.remove(l) };
  }

  /** Connects now instead of at the first subscription. */
  connect(): void {
    if (this.state === "stopped" || this.state === "signed_out") this.state = "idle";
    this.attempt = 0;
    if (!this.ws && !this.retryTimer) void this.open();
  }

  /** Closes the socket and stops reconnecting; connect() or a new subscription starts again. */
  close(): void {
    this.stop("stopped");
  }

  /** Stops for good: also stops following the session. */
  dispose(): void {
    this.close();
    this.unlistenAuth?.();
  }

  /** The stream position of the last event delivered (what a resume starts from). */
  get position(): { epoch: string; seq: number } | undefined {
    return this.epoch !== undefined && this.seq !== undefined ? { epoch: this.epoch, seq: this.seq } : undefined;
  }

  get currentState(): RealtimeState {
    return this.state;
  }

  // --- connection -----------------------------------------------------------

  private wake(): void {
    if (this.state === "idle" || this.state === "stopped") this.connect();
  }

  private remove(l: Listener): void {
    if (!this.listeners.delete(l)) return;
    if (l.runId) {
      const n = (this.runs.get(l.runId) ?? 1) - 1;
      if (n > 0) this.runs.set(l.runId, n);
      else {
        this.runs.delete(l.runId);
        this.confirmed.delete(l.runId);
        if (this.state === "open") this.send({ type: "unsubscribe", run_id: l.runId });
      }
    }
    if (this.listeners.size === 0) this.stop("idle");
  }

  private setState(s: RealtimeState): void {
    if (this.state === s) return;
    this.state = s;
    this.opts.onState?.(s);
  }

  private async getToken(minValidity: number): Promise<string | undefined> {
    const a = this.opts.auth;
    return typeof a === "function" ? a(minValidity) : a.accessToken(minValidity);
  }

  private async open(): Promise<void> {
    this.setState("connecting");
    let token: string | undefined;
    try {
      // At least 5 s of validity: a token expiring during the handshake would be refused.
      token = await this.getToken(5000);
    } catch {
      return this.scheduleReconnect();
    }
    if (this.state !== "connecting") return; // closed meanwhile
    if (!token) return this.setState("signed_out");
    this.token = token;
    const url = this.opts.baseUrl.replace(/^http/, "ws").replace(/\/$/, "") + "/v1/ws";
    const ws =
      this.mode === "header"
        ? new this.WS(url, [subprotocol], { headers: { Authorization: `Bearer ${token}` } })
        : new this.WS(url, [subprotocol, `bearer.${token}`]);
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.receive(String(ev.data));
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.closed(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close follows every error; the close decides.
    };
  }

  private closed(code: number, reason: string): void {
    this.ws = undefined;
    this.confirmed.clear();
    this.clearTimers();
    switch (code) {
      case CloseCode.Unauthorized:
        // Bad token, revoked session or disabled user: only a new sign-in helps.
        this.opts.onError?.({ code, message: reason || "unauthorized: sign in again" });
        return this.setState("signed_out");
      case CloseCode.TooManySockets:
        this.opts.onError?.({ code, message: reason || "too many sockets open for this user" });
        return this.setState("stopped");
      case CloseCode.TooBig:
        this.opts.onError?.({ code, message: reason || "message too big" });
        return this.setState("stopped");
      case CloseCode.TokenExpired:
        // Refresh (getToken asks for a token valid a while yet), then
        // reconnect at once and resume.
        this.attempt = 0;
        return void this.open();
      default:
        // 1001 shutdown, 4008 slow consumer, 4009 new epoch, 1006 network:
        // reconnect (elsewhere, behind a load balancer) and resume.
        return this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.listeners.size === 0) return this.setState("idle");
    const { min = 500, max = 20_000 } = this.opts.backoff ?? {};
    const cap = Math.min(max, min * 2 ** this.attempt);
    const delay = cap / 2 + (Math.random() * cap) / 2;
    this.attempt++;
    this.setState("reconnecting");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open();
    }, delay);
  }

  private stop(state: RealtimeState): void {
    this.confirmed.clear();
    this.clearTimers();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) ws.close(1000, "client closed");
    this.setState(state);
  }

  private clearTimers(): void {
    clearTimeout(this.renewTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  private send(m: ClientMessage): void {
    if (this.ws?.readyState === OPEN) this.ws.send(JSON.stringify(m));
  }

  // --- messages ---------------------------------------------------------------

  private receive(raw: string): void {
    let m: RealtimeEvent | Reply;
    try {
      m = JSON.parse(raw) as RealtimeEvent | Reply;
    } catch {
      return;
    }
    switch (m.type) {
      case "connected":
        return this.connected(m as Reply);
      case "resumed":
        return this.resumed(m as Reply);
      case "authed":
        return this.scheduleRenewal((m as Reply).expires_at);
      case "pong":
        return clearTimeout(this.pongTimer);
      case "subscribed": {
        const id = (m as Reply).run_id;
        if (id && this.runs.has(id)) {
          this.confirmed.add(id);
          for (const resolve of this.waiting.get(id) ?? []) resolve();
          this.waiting.delete(id);
        }
        return;
      }
      case "unsubscribed":
        return;
      case "error": {
        const r = m as Reply;
        if (r.code === "TOKEN_EXPIRED") {
          // The renewal came too late: the server closes with 4002 and we reconnect.
          return;
        }
        return this.opts.onError?.({ code: r.code ?? "INTERNAL", message: r.message ?? "" });
      }
      default:
        return this.deliver(m as RealtimeEvent);
    }
  }

  private connected(r: Reply): void {
    this.startSeq = r.seq ?? 0;
    // Subscribe first, then resume: the server holds the socket's events
    // until the resume, so nothing emitted in between is lost. A first
    // connection resumes from its own start, which ends that hold at once.
    for (const runId of this.runs.keys()) this.send({ type: "subscribe", run_id: runId });
    const epoch = this.epoch ?? r.epoch ?? "";
    const seq = this.seq ?? this.startSeq;
    this.send({ type: "resume", epoch, seq, id: `r${++this.nextId}` });
    this.scheduleRenewal(r.expires_at);
    this.startHeartbeat();
  }

  private resumed(r: Reply): void {
    const known = this.epoch;
    if (r.recovered === false) {
      // What was missed is gone: continue from this socket's start and let
      // the app reload from the API.
      this.epoch = r.epoch;
      this.seq = this.startSeq;
      this.opts.onResync?.({
        epoch: r.epoch ?? "",
        seq: this.startSeq,
        reason: known !== undefined && known !== r.epoch ? "new_epoch" : "trimmed",
      });
    } else {
      this.epoch = r.epoch ?? this.epoch;
      this.seq ??= this.startSeq;
    }
    this.attempt = 0;
    this.setState("open");
  }

  private deliver(e: RealtimeEvent): void {
    // Events at or below the last delivered seq were seen on an earlier socket.
    if (this.seq !== undefined && e.seq <= this.seq) return;
    this.seq = e.seq;
    for (const l of [...this.listeners]) {
      if (l.runId !== undefined && l.runId !== e.run_id) continue;
      const typed = l.handlers[e.type] as ((e: TypedEvent) => void) | undefined;
      try {
        typed?.(e as TypedEvent);
        l.handlers["*"]?.(e as TypedEvent);
      } catch (err) {
        // A handler's bug must not stop delivery to the others.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  // --- auth renewal and heartbeat ---------------------------------------------

  private authChanged(event: string, token: string | undefined): void {
    if (event === "SIGNED_OUT") {
      // The session is gone: drop the socket; the position is the old user's.
      this.epoch = undefined;
      this.seq = undefined;
      if (this.state !== "idle") this.stop("signed_out");
      return;
    }
    if (event === "SIGNED_IN" && (this.state === "signed_out" || this.state === "stopped")) {
      if (this.listeners.size > 0) this.connect();
      return;
    }
    if (event === "TOKEN_REFRESHED" && token && token !== this.token) this.renew(token);
  }

  private renew(token: string): void {
    if (this.ws?.readyState !== OPEN) return;
    this.token = token;
    this.send({ type: "auth", token, id: `a${++this.nextId}` });
  }

  private scheduleRenewal(expiresAt: string | undefined): void {
    clearTimeout(this.renewTimer);
    if (!expiresAt) return;
    const left = Date.parse(expiresAt) - Date.now();
    const before = Math.min(this.opts.renewBefore ?? 30_000, left / 3);
    this.renewTimer = setTimeout(async () => {
      try {
        const token = await this.getToken(before + 1000);
        if (token && token !== this.token) this.renew(token);
      } catch {
        // No fresh token: the server closes with 4002 at expiry and we reconnect.
      }
    }, Math.max(0, left - before));
  }

  private startHeartbeat(): void {
    const hb = this.opts.heartbeat ?? { interval: 25_000, timeout: 10_000 };
    if (!hb) return;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      this.send({ type: "ping" });
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        // No pong: the peer or the path is dead. Closing makes the close
        // handler reconnect (4000 is ours: "no pong").
        const ws = this.ws;
        if (ws) {
          this.ws = undefined;
          ws.close(4000, "no pong");
          this.closed(1006, "no pong");
        }
      }, hb.timeout);
    }, hb.interval);
  }
}
