// Sessions that refresh themselves: tokens kept in a pluggable storage,
// refreshed ahead of expiry and once after a 401 (the request is then retried
// once), one refresh at a time within a tab and across the tabs of an origin
// (Web Locks where present, the result shared over BroadcastChannel and
// storage events), and sign-out reaching every tab.
//
// Why the lock: refresh tokens rotate on every use. Two tabs refreshing the
// same token at once are saved by the server's 10 s grace (the repeat gets
// the same successor), but that is the fallback, not the plan: a tab that
// wakes after the grace with the old token would revoke the whole session.
// Under the lock a tab re-reads the shared storage first and adopts what the
// other tab already got. The lock has a timeout (an orphaned lock, a frozen
// tab, an extension must never hang sign-in): past it the tab refreshes on
// its own and leans on the grace.
import { createJarvisClient, type JarvisClient, type TokenResponse } from "./index.js";

/** Where tokens are kept. localStorage fits; so does anything async (IndexedDB, a keychain). */
export interface TokenStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** Tokens in this process's memory only: the default outside browsers. */
export function memoryStorage(): TokenStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

// How long a tab that waited for the refresh lock lets the other tab's
// storage write arrive: up to 10 × 50 ms.
const storageSettleTries = 10;
const storageSettleStep = 50;

/** A signed-in session as kept in storage. expires_at is the access token's expiry, ms since the epoch. */
export interface Session {
  access_token: string;
  refresh_token: string;
  expires_at: number;
  user_id: string;
  session_id: string;
  /** The access token's lifetime in ms, so every tab computes the same refresh moment. */
  lifetime: number;
}

export type AuthEvent = "INITIAL_SESSION" | "SIGNED_IN" | "TOKEN_REFRESHED" | "SIGNED_OUT";
export type AuthListener = (event: AuthEvent, session: Session | null) => void;

export interface SessionOptions {
  /** Tokens' home: localStorage in browsers, memory elsewhere, by default. */
  storage?: TokenStorage;
  /** The storage key, also naming the lock and the channel (one session per key and origin). */
  storageKey?: string;
  /**
   * Refresh this many ms before the access token expires. Default: a quarter
   * of the token's lifetime, at most 60 s.
   */
  refreshMargin?: number;
  /** Refresh on a timer ahead of expiry (default true); otherwise only when a request needs it. */
  autoRefresh?: boolean;
  /** Share refreshes and sign-out with the origin's other tabs (default: in browsers). */
  crossTab?: boolean;
  /** Longest wait for the cross-tab lock before refreshing without it (default 5 s). */
  lockTimeout?: number;
  fetch?: typeof globalThis.fetch;
}

/** Thrown by signIn/signUp: the API's error code (INVALID_CREDENTIALS, EMAIL_EXISTS, ...). */
export class AuthError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

// Operations that carry no access token (and whose 401 is an answer, not an expiry).
const anonymousPaths = ["/v1/auth/login", "/v1/auth/register", "/v1/auth/refresh"];

type ChannelMessage = { type: "session" } | { type: "signed_out" };

/**
 * The signed-in user of one app: `api` is the typed client whose requests
 * carry a fresh access token. Create one per app (per tab in a browser).
 */
export class Sessions {
  /** The typed API client; every request is authenticated, refreshed and retried once after a 401. */
  readonly api: JarvisClient;
  private readonly storage: TokenStorage;
  private readonly key: string;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly crossTab: boolean;
  private readonly lockTimeout: number;
  private readonly autoRefresh: boolean;
  private readonly margin?: number;
  private current: Session | null = null;
  private loaded: Promise<void>;
  private inflight: Promise<Session | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private listeners = new Set<AuthListener>();
  private channel: BroadcastChannel | undefined;
  private onStorage: ((e: StorageEvent) => void) | undefined;
  private closed = false;

  constructor(
    readonly baseUrl: string,
    options: SessionOptions = {},
  ) {
    const browser = typeof window !== "undefined" && typeof window.localStorage !== "undefined";
    this.storage = options.storage ?? (browser ? window.localStorage : memoryStorage());
    this.key = options.storageKey ?? "jarvis.session";
    this.fetchImpl = options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.crossTab = options.crossTab ?? browser;
    this.lockTimeout = options.lockTimeout ?? 5000;
    this.autoRefresh = options.autoRefresh ?? true;
    this.margin = options.refreshMargin;
    this.api = createJarvisClient(baseUrl, { fetch: (input) => this.send(input as Request) });
    if (this.crossTab) this.listenToTabs();
    this.loaded = this.load().then((s) => {
      this.current = s;
      this.schedule();
      this.emit("INITIAL_SESSION", s);
    });
  }

  /** Calls listener on every change of the session, at once with the current one; returns the unsubscribe. */
  onAuthStateChange(listener: AuthListener): () => void {
    this.listeners.add(listener);
    void this.loaded.then(() => {
      if (this.listeners.has(listener)) listener("INITIAL_SESSION", this.current);
    });
    return () => this.listeners.delete(listener);
  }

  /** The current session, refreshed first when its access token is about to expire; null when signed out. */
  async getSession(): Promise<Session | null> {
    await this.loaded;
    const s = this.current;
    if (s && this.expiring(s)) return this.refreshIf((x) => this.expiring(x));
    return s;
  }

  /** An access token valid for at least minValidity ms (refreshing when needed), or undefined when signed out. */
  async accessToken(minValidity = 0): Promise<string | undefined> {
    await this.loaded;
    const s = this.current;
    if (!s) return undefined;
    if (this.expiring(s) || s.expires_at - Date.now() < minValidity) {
      const used = s.access_token;
      const next = await this.refreshIf((x) => x.access_token === used);
      return next?.access_token;
    }
    return s.access_token;
  }

  async signUp(body: { email: string; password: string; display_name?: string }): Promise<Session> {
    return this.start(await this.api.POST("/v1/auth/register", { body }));
  }

  async signIn(body: { email: string; password: string }): Promise<Session> {
    return this.start(await this.api.POST("/v1/auth/login", { body }));
  }

  /**
   * Revokes the session at the server (best effort: a dead network still
   * signs out here) and signs out every tab. all: every session of the user.
   */
  async signOut(options: { all?: boolean } = {}): Promise<void> {
    await this.loaded;
    if (this.current) {
      try {
        await this.api.POST("/v1/auth/logout", { body: options.all ? { all: true } : {} });
      } catch {
        // Offline: the refresh token dies with the storage entry all the same.
      }
    }
    await this.end(true);
  }

  /**
   * Refreshes now unless another caller, in this tab or another, already
   * replaced the session this caller saw. Resolves to the session after it.
   */
  refresh(): Promise<Session | null> {
    const seen = this.current?.refresh_token;
    return this.refreshIf((s) => s.refresh_token === seen);
  }

  /** Stops the timer and the cross-tab listeners (tests, hot reload). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.channel?.close();
    if (this.onStorage) window.removeEventListener("storage", this.onStorage);
  }

  // --- requests -------------------------------------------------------------

  private async send(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (anonymousPaths.some((p) => path.endsWith(p))) return this.fetchImpl(request);
    const retry = request.clone();
    const token = await this.accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    const res = await this.fetchImpl(request);
    if (res.status !== 401 || !token) return res;
    // Once: refresh unless someone already replaced the token that failed,
    // then retry with whatever token is current.
    const next = await this.refreshIf((s) => s.access_token === token);
    if (!next || next.access_token === token) return res;
    retry.headers.set("Authorization", `Bearer ${next.access_token}`);
    return this.fetchImpl(retry);
  }

  private async start(r: { data?: TokenResponse; error?: { error: { code: string; message: string } }; response: Response }) {
    if (!r.data) {
      const e = r.error?.error;
      throw new AuthError(e?.code ?? "UNKNOWN", r.response.status, e?.message ?? `HTTP ${r.response.status}`);
    }
    await this.loaded;
    const s = toSession(r.data);
    await this.save(s);
    this.set(s, "SIGNED_IN");
    this.broadcast({ type: "session" });
    return s;
  }

  // --- refresh ----------------------------------------------------------------

  private expiring(s: Session): boolean {
    return s.expires_at - Date.now() <= this.marginFor(s);
  }

  private marginFor(s: Session): number {
    if (this.margin !== undefined) return this.margin;
    return Math.min(60_000, (s.lifetime || 15 * 60_000) / 4);
  }

  /** Single flight: one refresh per tab at a time; callers arriving meanwhile share it. */
  private refreshIf(stale: (s: Session) => boolean): Promise<Session | null> {
    if (this.inflight) return this.inflight;
    const p = this.locked((waited) => this.refreshLocked(stale, waited)).finally(() => {
      if (this.inflight === p) this.inflight = null;
    });
    this.inflight = p;
    return p;
  }

  private async refreshLocked(stale: (s: Session) => boolean, waited: boolean): Promise<Session | null> {
    // Another tab may have refreshed (or signed out) while this one waited.
    let stored = await this.load();
    // Chromium hands a localStorage write to other tabs asynchronously: a tab
    // granted the lock right after another one's refresh can still read the
    // old session. Having waited for the lock, give the write a moment to
    // arrive before spending a refresh of its own.
    for (let i = 0; waited && stored && stale(stored) && i < storageSettleTries; i++) {
      await new Promise((r) => setTimeout(r, storageSettleStep));
      stored = await this.load();
    }
    if (!stored) {
      if (this.current) await this.end(false);
      return null;
    }
    if (!stale(stored)) {
      if (stored.refresh_token !== this.current?.refresh_token) this.set(stored, "TOKEN_REFRESHED");
      return stored;
    }
    const r = await this.api.POST("/v1/auth/refresh", { body: { refresh_token: stored.refresh_token } });
    if (r.data) {
      const s = toSession(r.data);
      await this.save(s);
      this.set(s, "TOKEN_REFRESHED");
      this.broadcast({ type: "session" });
      return s;
    }
    if (r.response.status === 401 || r.response.status === 400) {
      // The session is over (revoked, expired, reused): sign out everywhere.
      await this.end(true);
      return null;
    }
    // The server is unavailable: keep the session, try again soon.
    this.retryLater();
    return this.current;
  }

  /** Runs fn under the origin-wide lock when there is one; never waits past lockTimeout. */
  private async locked<T>(fn: (waited: boolean) => Promise<T>): Promise<T> {
    const locks = this.crossTab ? (globalThis.navigator as Navigator | undefined)?.locks : undefined;
    if (!locks) return fn(false);
    const name = `${this.key}:refresh`;
    try {
      // Free: run now. Held by another tab: wait, and say so (it is likely
      // refreshing the same session).
      const free = await locks.request(name, { ifAvailable: true }, async (lock) =>
        lock ? { value: await fn(false) } : null,
      );
      if (free) return free.value;
      return await locks.request(name, { signal: AbortSignal.timeout(this.lockTimeout) }, () => fn(true));
    } catch (e) {
      // The lock was not granted in time (only AbortSignal's errors land
      // here before fn runs): refresh without it; the server's grace covers
      // a racing tab.
      if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) return fn(true);
      throw e;
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const s = this.current;
    if (!s || !this.autoRefresh || this.closed) return;
    const due = Math.max(0, s.expires_at - this.marginFor(s) - Date.now());
    this.timer = setTimeout(() => {
      const seen = s.refresh_token;
      void this.refreshIf((x) => x.refresh_token === seen).catch(() => this.retryLater());
    }, due);
  }

  private retryLater(): void {
    clearTimeout(this.timer);
    if (!this.current || !this.autoRefresh || this.closed) return;
    this.timer = setTimeout(() => this.schedule(), 2000 + Math.random() * 3000);
  }

  // --- state and storage ----------------------------------------------------

  private set(s: Session, event: AuthEvent): void {
    this.current = s;
    this.schedule();
    this.emit(event, s);
  }

  private async end(broadcast: boolean): Promise<void> {
    await this.storage.removeItem(this.key);
    const had = this.current !== null;
    this.current = null;
    clearTimeout(this.timer);
    if (broadcast) this.broadcast({ type: "signed_out" });
    if (had) this.emit("SIGNED_OUT", null);
  }

  private emit(event: AuthEvent, s: Session | null): void {
    if (event === "INITIAL_SESSION") return; // delivered per listener by onAuthStateChange
    for (const l of this.listeners) {
      try {
        l(event, s);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  private async load(): Promise<Session | null> {
    const raw = await this.storage.getItem(this.key);
    if (!raw) return null;
    try {
      const s = JSON.parse(raw) as Session;
      return typeof s.access_token === "string" && typeof s.refresh_token === "string" ? s : null;
    } catch {
      return null;
    }
  }

  private save(s: Session): void | Promise<void> {
    return this.storage.setItem(this.key, JSON.stringify(s));
  }

  // --- other tabs -------------------------------------------------------------

  private listenToTabs(): void {
    const sync = () => void this.adopt();
    if (typeof BroadcastChannel !== "undefined") {
      this.channel = new BroadcastChannel(this.key);
      this.channel.onmessage = sync;
    }
    // localStorage writes also reach other tabs as storage events: covers
    // browsers without BroadcastChannel, and a tab that missed a message.
    if (typeof window !== "undefined" && typeof window.addEventListener === "function") {
      this.onStorage = (e) => {
        if (e.key === this.key || e.key === null) sync();
      };
      window.addEventListener("storage", this.onStorage);
    }
  }

  private broadcast(m: ChannelMessage): void {
    this.channel?.postMessage(m);
  }

  /** Takes over what another tab stored (tokens never travel on the channel). */
  private async adopt(): Promise<void> {
    await this.loaded;
    const stored = await this.load();
    const cur = this.current;
    if (!stored) {
      if (cur) await this.end(false);
      return;
    }
    if (cur?.refresh_token === stored.refresh_token) return;
    this.set(stored, cur && cur.session_id === stored.session_id ? "TOKEN_REFRESHED" : "SIGNED_IN");
  }
}

function toSession(t: TokenResponse): Session {
  const lifetime = t.expires_in * 1000;
  return {
    access_token: t.access_token,
    refresh_token: t.refresh_token,
    expires_at: Date.now() + lifetime,
    user_id: t.user_id,
    session_id: t.session_id,
    lifetime,
  };
}
