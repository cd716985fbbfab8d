// The client in a real browser: Debian's chromium (CHROMIUM) driven by
// puppeteer-core, two tabs of the test page (JARVIS_PAGE, an origin of its
// own that the service's CORS allows) talking to the API behind the load
// balancer (JARVIS_URL). Run by the Go test TestTypeScriptSessionsAndRealtime.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { createJarvisClient } from "./index.js";

const base = process.env.JARVIS_URL as string;
const control = process.env.JARVIS_CONTROL as string;
const pageUrl = process.env.JARVIS_PAGE as string;
const chromium = process.env.CHROMIUM as string;
if (!base || !control || !pageUrl || !chromium) throw new Error("JARVIS_URL, JARVIS_CONTROL, JARVIS_PAGE and CHROMIUM must be set");

type Harness = {
  signUp(email: string, password: string): Promise<string>;
  signOut(): Promise<void>;
  authEvents(): { event: string; at: number; refresh_token?: string }[];
  me(): Promise<number>;
  createRun(): Promise<string>;
  accessToken(): Promise<string | undefined>;
  listen(runId: string): void;
  realtime(): {
    received: { seq: number; text: string }[];
    states: string[];
    resyncs: unknown[];
    errors: unknown[];
    state?: string;
  };
};
declare const harness: Harness;

async function ctl(method: "GET" | "POST", path: string): Promise<string> {
  const r = await fetch(control + path, { method });
  const body = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${body}`);
  return body;
}

async function until(what: string, cond: () => Promise<boolean>, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let browser: Browser;
let profile: string;
// Every URL the browser requested or opened a socket to, and what it logged.
const urls: string[] = [];
const consoleLines: string[] = [];
const handshakes: Record<string, string>[] = [];

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "jarvis-chromium-"));
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: false, // --headless is in args, as given: puppeteer adds nothing of its own
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
});

after(async () => {
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
});

async function openTab(): Promise<Page> {
  const page = await browser.newPage();
  page.on("request", (r) => urls.push(r.url()));
  page.on("console", (m) => consoleLines.push(m.text()));
  page.on("pageerror", (e) => consoleLines.push(String(e)));
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  cdp.on("Network.webSocketCreated", (e) => urls.push(e.url));
  cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => handshakes.push(e.request.headers));
  await page.goto(`${pageUrl}/index.html?api=${encodeURIComponent(base)}`);
  await page.waitForFunction(() => "harness" in window);
  return page;
}

test("two tabs: one refresh for both, the socket by subprotocol resumes after a drop, sign-out reaches the other tab", { timeout: 90_000 }, async () => {
  await ctl("POST", "/route/a");
  const one = await openTab();
  const email = `ts-browser-${Date.now()}@example.com`;
  await one.evaluate((e) => harness.signUp(e, "correct horse battery staple"), email);
  const two = await openTab();
  const events = (p: Page) => p.evaluate(() => harness.authEvents());
  const initial = (await events(one)).find((e) => e.event === "SIGNED_IN")!.refresh_token;
  assert.ok(initial);
  assert.deepEqual(
    (await events(two)).map((e) => [e.event, e.refresh_token]),
    [["INITIAL_SESSION", initial]],
    "the second tab starts signed in from the shared storage",
  );

  // Both tabs' timers fire at the same moment (1.5 s before the 6 s token expires).
  const before = Number(await ctl("GET", "/refreshes"));
  const refreshed = async (p: Page) => (await events(p)).some((e) => e.event === "TOKEN_REFRESHED");
  await until("both tabs to refresh", async () => (await refreshed(one)) && (await refreshed(two)));
  await sleep(500);
  assert.equal(Number(await ctl("GET", "/refreshes")) - before, 1, "one refresh request for both tabs");
  const successor = async (p: Page) => (await events(p)).filter((e) => e.event === "TOKEN_REFRESHED")[0]!.refresh_token;
  const s1 = await successor(one);
  assert.notEqual(s1, initial);
  assert.equal(await successor(two), s1, "both tabs hold the one successor");
  assert.equal(await one.evaluate(() => harness.me()), 200);
  assert.equal(await two.evaluate(() => harness.me()), 200);

  // The socket: authenticated by subprotocol, renewed on the open socket,
  // resumed after the balancer drops it.
  const runId = await one.evaluate(() => harness.createRun());
  await one.evaluate((id) => harness.listen(id), runId);
  const rt = () => one.evaluate(() => harness.realtime());
  await until("the socket to open", async () => (await rt()).state === "open");
  const sent: string[] = [];
  const emit = async (url: string, text: string) => {
    const token = (await one.evaluate(() => harness.accessToken()))!;
    const api = createJarvisClient(url, { accessToken: () => token });
    const r = await api.POST("/v1/runs/{id}/events", { params: { path: { id: runId } }, body: { type: "agent.token", data: { text } } });
    assert.equal(r.response.status, 202);
    sent.push(text);
  };
  for (let i = 0; i < 3; i++) await emit(base, `live-${i}`);
  await until("the live events", async () => (await rt()).received.length === 3);

  await ctl("POST", "/route/none");
  assert.ok(Number(await ctl("POST", "/drop")) >= 1);
  await until("the page to notice the drop", async () => (await rt()).state === "reconnecting");
  const b = await ctl("GET", "/instance/b");
  for (let i = 0; i < 4; i++) await emit(b, `missed-${i}`);
  await ctl("POST", "/route/a");
  await until("the socket to reopen", async () => (await rt()).states.filter((s) => s === "open").length === 2);
  const reopened = (await rt()).states.length;
  await emit(base, "after");
  await until("every event", async () => (await rt()).received.length >= sent.length);
  // Past a token lifetime on the reopened socket: renewed, not closed.
  await sleep(7000);
  const state = await rt();
  assert.deepEqual(
    state.received.map((r) => r.text),
    sent,
    "every event, in order, once",
  );
  assert.deepEqual(state.resyncs, []);
  assert.equal(state.states.length, reopened, `the reopened socket closed again: ${state.states.join(" ")}`);
  assert.equal(state.state, "open");

  const token = (await one.evaluate(() => harness.accessToken()))!;
  const balancer = JSON.parse(await ctl("GET", "/handshakes")) as { url: string; authorization: boolean; protocols: string }[];
  assert.ok(balancer.length >= 2);
  for (const h of balancer) {
    assert.deepEqual(h, { url: "/v1/ws", authorization: false, protocols: "jarvis.v1,bearer.<token>" });
  }
  assert.ok(handshakes.length >= 2);
  for (const h of handshakes) assert.match(h["Sec-WebSocket-Protocol"] ?? "", /^jarvis\.v1, bearer\.eyJ/);
  assert.ok(urls.some((u) => u.endsWith("/v1/ws")));
  for (const u of [...urls, ...consoleLines]) {
    assert.ok(!u.includes("eyJ") && !u.includes(token) && !u.includes(s1!), `a token in what the browser logged: ${u}`);
  }

  // Sign-out in the second tab signs the first out too, and its socket closes.
  await two.evaluate(() => harness.signOut());
  await until("the first tab to sign out", async () => (await events(one)).some((e) => e.event === "SIGNED_OUT"));
  assert.equal(await one.evaluate(() => harness.me()), 401);
  assert.equal((await rt()).state, "signed_out");
  assert.equal(await one.evaluate(() => localStorage.getItem("jarvis.session")), null);
  const last = (await events(one)).filter((e) => e.refresh_token).at(-1)!.refresh_token!;
  const anon = createJarvisClient(base);
  const dead = await anon.POST("/v1/auth/refresh", { body: { refresh_token: last } });
  assert.equal(dead.response.status, 401, "the server revoked the session");
});

// The README's app flow as a newcomer pastes it (src/app.ts, bundled as
// window.app): sign in, ask, the tokens stream into the page, the socket is
// dropped mid-answer, and the answer still arrives whole.
test("the README's app flow streams a run's tokens into the page across a reconnect", { timeout: 60_000 }, async () => {
  await ctl("POST", "/route/a");
  const email = `ts-app-${Date.now()}@example.com`;
  const anon = createJarvisClient(base);
  assert.equal((await anon.POST("/v1/auth/register", { body: { email, password: "correct horse battery staple" } })).response.status, 201);

  const page = await browser.newPage();
  page.on("pageerror", (e) => consoleLines.push(String(e)));
  await page.goto(`${pageUrl}/app.html?api=${encodeURIComponent(base)}`);
  type App = { signIn(e: string, p: string): Promise<void>; ask(): Promise<string> };
  await page.evaluate((e) => (window as unknown as { app: App }).app.signIn(e, "correct horse battery staple"), email);
  const token = await page.evaluate(() => (JSON.parse(localStorage.getItem("jarvis.session")!) as { access_token: string }).access_token);
  const answer = page.evaluate(() => (window as unknown as { app: App }).app.ask());

  // The agent: finds the run once the page started it, and emits into it.
  const worker = createJarvisClient(base, { accessToken: () => token });
  let runId = "";
  await until("the page to start a run", async () => {
    const runs = await worker.GET("/v1/runs");
    runId = runs.data?.items.find((r) => r.status === "running")?.id ?? "";
    return runId !== "";
  });
  const emit = async (via: ReturnType<typeof createJarvisClient>, body: { type: "agent.token" | "agent.final"; data: Record<string, unknown> }) =>
    assert.equal((await via.POST("/v1/runs/{id}/events", { params: { path: { id: runId } }, body })).response.status, 202);
  const shown = () => page.evaluate(() => document.querySelector("#answer")!.textContent);
  await emit(worker, { type: "agent.token", data: { text: "Hel" } });
  await emit(worker, { type: "agent.token", data: { text: "lo" } });
  await until("the first tokens on the page", async () => (await shown()) === "Hello");

  await ctl("POST", "/route/none");
  await ctl("POST", "/drop");
  const b = createJarvisClient(await ctl("GET", "/instance/b"), { accessToken: () => token });
  await emit(b, { type: "agent.token", data: { text: " wor" } });
  await ctl("POST", "/route/a");
  await emit(worker, { type: "agent.token", data: { text: "ld" } });
  await emit(worker, { type: "agent.final", data: { content: "Hello world" } });
  assert.equal(await answer, "Hello world");
  assert.equal(await shown(), "Hello world");
  await page.close();
});
