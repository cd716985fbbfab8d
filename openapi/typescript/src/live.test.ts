// Sessions and Realtime in Node against two real instances behind a load
// balancer (JARVIS_URL), with access tokens living 6 s. Run by the Go test
// TestTypeScriptSessionsAndRealtime, which also serves JARVIS_CONTROL: it
// routes the balancer, restarts instances and counts refresh requests.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import {
  createJarvisClient,
  memoryStorage,
  Realtime,
  Sessions,
  type AuthEvent,
  type AuthSession,
  type RealtimeState,
  type ResyncInfo,
  type WebSocketConstructor,
} from "./index.js";

const base = process.env.JARVIS_URL as string;
const control = process.env.JARVIS_CONTROL as string;
if (!base || !control) throw new Error("JARVIS_URL and JARVIS_CONTROL must be set");
const password = "correct horse battery staple";
let n = 0;
const email = (what: string) => `ts-live-${what}-${Date.now()}-${n++}@example.com`;

async function ctl(method: "GET" | "POST", path: string): Promise<string> {
  const r = await fetch(control + path, { method });
  const body = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${body}`);
  return body;
}
const refreshes = async () => Number(await ctl("GET", "/refreshes"));

/** A fetch that records each answer's path and status. */
function recordingFetch() {
  const seen: { path: string; status: number }[] = [];
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = input instanceof Request ? input.url : String(input);
    seen.push({ path: new URL(url).pathname, status: res.status });
    return res;
  };
  const count = (path: string, status?: number) =>
    seen.filter((s) => s.path === path && (status === undefined || s.status === status)).length;
  return { fetch: f, seen, count };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test("a session refreshes ahead of expiry: no request ever sees a 401", async () => {
  const rec = recordingFetch();
  const s = new Sessions(base, { fetch: rec.fetch });
  try {
    const events: { event: AuthEvent; at: number; session: AuthSession | null }[] = [];
    s.onAuthStateChange((event, session) => events.push({ event, at: Date.now(), session }));
    const first = await s.signUp({ email: email("ahead"), password });
    assert.ok(first.expires_at - Date.now() <= 6000);
    // Past the first token's life, a request every 200 ms.
    while (Date.now() < first.expires_at + 2000) {
      const me = await s.api.GET("/v1/me");
      assert.equal(me.response.status, 200);
      await sleep(200);
    }
    const refreshed = events.filter((e) => e.event === "TOKEN_REFRESHED");
    assert.ok(refreshed.length >= 1, "no refresh happened");
    assert.ok(refreshed[0]!.at < first.expires_at, "the refresh came after the token expired");
    assert.equal(rec.count("/v1/me", 401), 0);
    assert.equal(rec.count("/v1/auth/refresh"), refreshed.length);
    assert.notEqual(refreshed[0]!.session!.refresh_token, first.refresh_token);
  } finally {
    s.close();
  }
});

test("20 concurrent requests at expiry cause one refresh", async () => {
  const rec = recordingFetch();
  // No timer: the requests themselves find the token expiring.
  const s = new Sessions(base, { fetch: rec.fetch, autoRefresh: false, refreshMargin: 0 });
  try {
    const first = await s.signUp({ email: email("burst"), password });
    await sleep(first.expires_at - Date.now() + 50);
    const before = await refreshes();
    const all = await Promise.all(Array.from({ length: 20 }, () => s.api.GET("/v1/me")));
    assert.deepEqual(
      all.map((r) => r.response.status),
      Array(20).fill(200),
    );
    assert.equal((await refreshes()) - before, 1, "refresh requests seen by the load balancer");
    assert.equal(rec.count("/v1/auth/refresh"), 1);
    assert.equal(rec.count("/v1/me", 401), 0);
    const now = await s.getSession();
    assert.notEqual(now!.refresh_token, first.refresh_token);
  } finally {
    s.close();
  }
});

test("a 401 refreshes once and retries each request once; a dead session signs out", async () => {
  const storage = memoryStorage();
  const signer = new Sessions(base, { storage, autoRefresh: false });
  await signer.signUp({ email: email("401"), password });
  signer.close();
  // A token the server refuses while the client believes it fresh (its
  // clock runs behind, say): only the 401 can tell.
  const stored = JSON.parse((await storage.getItem("jarvis.session"))!) as AuthSession;
  const [h, p, sig] = stored.access_token.split(".");
  stored.access_token = `${h}.${p}.${sig!.slice(0, -4)}AAAA`;
  stored.expires_at = Date.now() + 3600_000;
  await storage.setItem("jarvis.session", JSON.stringify(stored));

  const rec = recordingFetch();
  const s = new Sessions(base, { storage, fetch: rec.fetch, autoRefresh: false });
  const events: AuthEvent[] = [];
  s.onAuthStateChange((e) => events.push(e));
  try {
    const before = await refreshes();
    const all = await Promise.all(Array.from({ length: 20 }, () => s.api.GET("/v1/me")));
    assert.deepEqual(
      all.map((r) => r.response.status),
      Array(20).fill(200),
    );
    assert.equal(rec.count("/v1/me", 401), 20);
    assert.equal(rec.count("/v1/me", 200), 20);
    assert.equal(rec.count("/v1/auth/refresh"), 1);
    assert.equal((await refreshes()) - before, 1);

    // The session revoked elsewhere: a 401, one refresh refused, signed out,
    // and the request is not retried again.
    const token = (await s.accessToken())!;
    const other = createJarvisClient(base, { accessToken: () => token });
    assert.equal((await other.POST("/v1/auth/logout", { body: {} })).response.status, 204);
    const refused = await s.api.GET("/v1/me");
    assert.equal(refused.response.status, 401);
    assert.equal(rec.count("/v1/auth/refresh"), 2);
    assert.equal(await s.getSession(), null);
    assert.equal(await storage.getItem("jarvis.session"), null);
    assert.deepEqual(events, ["INITIAL_SESSION", "TOKEN_REFRESHED", "SIGNED_OUT"]);
  } finally {
    s.close();
  }
});

test("sign in with a wrong password is an AuthError with the API's code", async () => {
  const s = new Sessions(base);
  try {
    const e = email("wrong");
    await s.signUp({ email: e, password });
    await s.signOut();
    await assert.rejects(s.signIn({ email: e, password: "not the password at all" }), {
      name: "AuthError",
      code: "INVALID_CREDENTIALS",
      status: 401,
    });
    assert.equal(await s.getSession(), null);
    const again = await s.signIn({ email: e, password });
    assert.equal((await s.api.GET("/v1/me")).data!.id, again.user_id);
  } finally {
    s.close();
  }
});

test("realtime: auth renewed on the open socket; its instance restarted, it resumes on the other", { timeout: 60_000 }, async () => {
  await ctl("POST", "/route/a");
  const s = new Sessions(base);
  const states: RealtimeState[] = [];
  const resyncs: ResyncInfo[] = [];
  const rt = new Realtime({
    baseUrl: base,
    auth: s,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { min: 100, max: 1000 },
    onState: (st) => states.push(st),
    onResync: (i) => resyncs.push(i),
  });
  try {
    await s.signUp({ email: email("rt"), password });
    const created = await s.api.POST("/v1/runs");
    assert.equal(created.response.status, 201);
    const runId = created.data!.id;
    const got: { seq: number; text: string }[] = [];
    const all: number[] = [];
    const sub = rt.subscribeRun(runId, { "agent.token": (e) => got.push({ seq: e.seq, text: e.data.text }) });
    rt.subscribeUser({ "*": (e) => all.push(e.seq) });
    assert.deepEqual(states, ["connecting"], "lazy: the first subscription connects");
    await until("the socket to open", () => rt.currentState === "open");

    const sent: string[] = [];
    const emit = async (via: ReturnType<typeof createJarvisClient>, text: string) => {
      const r = await via.POST("/v1/runs/{id}/events", {
        params: { path: { id: runId } },
        body: { type: "agent.token", data: { text } },
      });
      assert.equal(r.response.status, 202, `emit ${text}`);
      sent.push(text);
    };

    // Two and a half token lifetimes on one socket: renewed by "auth", never closed with 4002.
    const end = Date.now() + 15_000;
    for (let i = 0; Date.now() < end; i++) {
      await emit(s.api, `live-${i}`);
      await sleep(500);
    }
    await until("the live events", () => got.length === sent.length);
    assert.equal(states.filter((x) => x === "connecting").length, 1, `reconnected: ${states.join(" ")}`);

    // Instance a restarts behind a balancer that sends nobody anywhere for a
    // while: the socket gets 1001, its reconnects fail, events go on
    // through instance b meanwhile.
    const token = (await s.accessToken(4000))!;
    const b = createJarvisClient(await ctl("GET", "/instance/b"), { accessToken: () => token });
    await ctl("POST", "/route/none");
    await ctl("POST", "/restart/a");
    await until("the socket to notice", () => rt.currentState === "reconnecting");
    for (let i = 0; i < 5; i++) await emit(b, `missed-${i}`);
    await sleep(700); // a few failed attempts
    await ctl("POST", "/route/b");
    await until("the socket to reopen", () => states.filter((x) => x === "open").length === 2);
    for (let i = 0; i < 2; i++) await emit(s.api, `after-${i}`);
    await until("every event", () => got.length >= sent.length);
    await sleep(300); // anything extra (a duplicate) would arrive now

    assert.deepEqual(
      got.map((g) => g.text),
      sent,
      "every event, in order, once",
    );
    for (let i = 1; i < got.length; i++) assert.ok(got[i]!.seq > got[i - 1]!.seq);
    assert.equal(new Set(all).size, all.length, "the user stream saw no event twice");
    assert.deepEqual(resyncs, []);
    assert.ok(states.includes("reconnecting"));

    // Unsubscribing the last listener closes the socket.
    sub.unsubscribe();
    rt.close();
    assert.equal(rt.currentState, "stopped");
  } finally {
    rt.dispose();
    s.close();
  }
});

test("realtime: a signed-out session closes the socket; 4001 is not retried", { timeout: 20_000 }, async () => {
  await ctl("POST", "/route/b");
  const s = new Sessions(base);
  const states: RealtimeState[] = [];
  const errors: unknown[] = [];
  // A function instead of a Sessions: the socket learns of the revocation from the server.
  let token: string | undefined;
  const rt = new Realtime({
    baseUrl: base,
    auth: () => token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    onState: (st) => states.push(st),
    onError: (e) => errors.push(e),
  });
  try {
    await s.signUp({ email: email("rt401"), password });
    token = await s.accessToken();
    await s.signOut();
    rt.subscribeUser({});
    await until("4001", () => rt.currentState === "signed_out");
    assert.deepEqual(errors.map((e) => (e as { code: number }).code), [4001]);
    await sleep(500);
    assert.equal(states.filter((x) => x === "connecting").length, 1, "4001 must not be retried");
  } finally {
    rt.dispose();
    s.close();
  }
});

// The README's app flow is src/app.ts (type-checked by tsc with the rest),
// shown as a user writes it: importing the package by name.
test("the README's app flow is src/app.ts", () => {
  const readme = readFileSync("README.md", "utf8");
  const app = readFileSync("src/app.ts", "utf8").replace('"./index.js"', '"@jarvis-core/client"');
  assert.ok(readme.includes("```ts\n" + app + "```"), "README.md's app flow differs from src/app.ts: copy it over");
});
