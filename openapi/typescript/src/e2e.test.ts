// End-to-end test of the generated client against a running server
// (JARVIS_URL). Run by the Go test TestTypeScriptClientEndToEnd, which starts
// the real server on a fresh database.
import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import {
  createJarvisClient,
  realtimeProtocols,
  type ErrorCode,
  type RealtimeClientMessage,
  type RealtimeEvent,
  type RealtimeReply,
  type RealtimeServerMessage,
  type Secret,
  type TokenResponse,
} from "./index.js";

const baseUrl = process.env.JARVIS_URL;
if (!baseUrl) throw new Error("JARVIS_URL is not set");

let access: string | undefined;
const api = createJarvisClient(baseUrl, { accessToken: () => access });

function expectError(error: { error: { code: ErrorCode; correlation_id: string } } | undefined, code: ErrorCode) {
  assert.ok(error, `expected an error ${code}`);
  assert.equal(error.error.code, code);
  assert.ok(error.error.correlation_id.length > 0);
}

test("register, login, refresh, secrets, logout", async () => {
  const email = `ts-${Date.now()}@example.com`;
  const password = "correct horse battery staple";

  const reg = await api.POST("/v1/auth/register", { body: { email, password, display_name: "TS" } });
  assert.equal(reg.response.status, 201);
  const registered: TokenResponse = reg.data!;
  assert.equal(registered.token_type, "Bearer");

  const dup = await api.POST("/v1/auth/register", { body: { email, password } });
  assert.equal(dup.response.status, 409);
  expectError(dup.error, "EMAIL_EXISTS");

  const bad = await api.POST("/v1/auth/login", { body: { email, password: "not the password" } });
  assert.equal(bad.response.status, 401);
  expectError(bad.error, "INVALID_CREDENTIALS");

  const login = await api.POST("/v1/auth/login", { body: { email, password } });
  assert.equal(login.response.status, 200);
  access = login.data!.access_token;

  const me = await api.GET("/v1/me");
  assert.equal(me.response.status, 200);
  assert.equal(me.data!.email, email);
  assert.equal(me.data!.display_name, "TS");

  const refreshed = await api.POST("/v1/auth/refresh", { body: { refresh_token: login.data!.refresh_token } });
  assert.equal(refreshed.response.status, 200);
  assert.notEqual(refreshed.data!.refresh_token, login.data!.refresh_token);
  access = refreshed.data!.access_token;

  const created = await api.POST("/v1/secrets", {
    body: { provider: "openai", name: "default", value: "sk-live-typescript-0123456789" },
  });
  assert.equal(created.response.status, 201);
  const secret: Secret = created.data!;
  assert.equal(secret.last4, "6789");
  assert.equal((secret as Record<string, unknown>)["value"], undefined);

  const list = await api.GET("/v1/secrets", { params: { query: { limit: 10 } } });
  assert.equal(list.response.status, 200);
  assert.deepEqual(list.data!.items.map((s) => s.id), [secret.id]);
  assert.equal(list.data!.next_cursor, undefined);

  const renamed = await api.PATCH("/v1/secrets/{id}", { params: { path: { id: secret.id } }, body: { name: "main" } });
  assert.equal(renamed.response.status, 200);
  assert.equal(renamed.data!.name, "main");

  const invalid = await api.POST("/v1/secrets", { body: { provider: "openai", name: "", value: "x" } });
  assert.equal(invalid.response.status, 400);
  expectError(invalid.error, "VALIDATION_ERROR");

  const deleted = await api.DELETE("/v1/secrets/{id}", { params: { path: { id: secret.id } } });
  assert.equal(deleted.response.status, 204);
  const again = await api.DELETE("/v1/secrets/{id}", { params: { path: { id: secret.id } } });
  assert.equal(again.response.status, 404);
  expectError(again.error, "NOT_FOUND");

  const out = await api.POST("/v1/auth/logout", { body: {} });
  assert.equal(out.response.status, 204);
  const after = await api.GET("/v1/me");
  assert.equal(after.response.status, 401);
  expectError(after.error, "UNAUTHORIZED");
});

// The WebSocket: Node 20 has no global WebSocket without a flag, so the
// test uses the ws package (a browser passes the same subprotocols).
test("realtime: subscribe to a run, receive its events, resume", { timeout: 30_000 }, async () => {
  const sockets: WebSocket[] = [];
  try {
    await realtimeScenario(sockets);
  } finally {
    // An open socket would keep the test process alive after a failure.
    for (const s of sockets) s.terminate();
  }
});

async function realtimeScenario(sockets: WebSocket[]) {
  const apiUrl = baseUrl as string; // checked at the top of the file
  const runId = process.env.JARVIS_RUN_ID;
  const token = process.env.JARVIS_RUN_TOKEN;
  assert.ok(runId && token, "JARVIS_RUN_ID and JARVIS_RUN_TOKEN are set by the Go test");
  const worker = createJarvisClient(apiUrl, { accessToken: () => token });
  const wsUrl = apiUrl.replace(/^http/, "ws") + "/v1/ws";

  const first = await openSocket(wsUrl, token);
  sockets.push(first.socket);
  const connected = (await first.next()) as RealtimeReply;
  assert.equal(connected.type, "connected");
  assert.equal(first.socket.protocol, "jarvis.v1");
  first.send({ type: "subscribe", run_id: runId, id: "s1" });
  const subscribed = (await first.next()) as RealtimeReply;
  assert.equal(subscribed.type, "subscribed");
  assert.equal(subscribed.id, "s1");

  const emitted = await worker.POST("/v1/runs/{id}/events", {
    params: { path: { id: runId } },
    body: { type: "agent.token", data: { text: "Hel" } },
  });
  assert.equal(emitted.response.status, 202);
  const token1 = (await first.next()) as RealtimeEvent;
  assert.equal(token1.type, "agent.token");
  assert.equal(token1.run_id, runId);
  assert.equal(token1.seq, emitted.data!.seq);
  assert.deepEqual(token1.data, { text: "Hel" });

  const invalid = await worker.POST("/v1/runs/{id}/events", {
    params: { path: { id: runId } },
    body: { type: "agent.token", data: { txt: "typo" } },
  });
  assert.equal(invalid.response.status, 400);
  expectError(invalid.error, "VALIDATION_ERROR");
  first.socket.close();

  // Missed while away, then recovered on a new socket.
  const final = await worker.POST("/v1/runs/{id}/events", {
    params: { path: { id: runId } },
    body: { type: "agent.final", data: { content: "Hello" } },
  });
  assert.equal(final.response.status, 202);
  const second = await openSocket(wsUrl, token);
  sockets.push(second.socket);
  assert.equal(((await second.next()) as RealtimeReply).type, "connected");
  second.send({ type: "subscribe", run_id: runId });
  assert.equal(((await second.next()) as RealtimeReply).type, "subscribed");
  second.send({ type: "resume", epoch: connected.epoch, seq: token1.seq });
  const resumed = (await second.next()) as RealtimeReply;
  assert.equal(resumed.type, "resumed");
  assert.equal(resumed.recovered, true);
  assert.equal(resumed.missed, 1);
  const missed = (await second.next()) as RealtimeEvent;
  assert.equal(missed.type, "agent.final");
  assert.equal(missed.seq, token1.seq + 1);
  assert.deepEqual(missed.data, { content: "Hello" });
  second.socket.close();
}

interface Socket {
  socket: WebSocket;
  next(): Promise<RealtimeServerMessage>;
  send(m: RealtimeClientMessage): void;
}

/** Opens an authenticated socket whose messages are read in order with next(). */
function openSocket(url: string, token: string): Promise<Socket> {
  const socket = new WebSocket(url, realtimeProtocols(token));
  const queue: RealtimeServerMessage[] = [];
  const waiting: ((m: RealtimeServerMessage) => void)[] = [];
  socket.on("message", (data) => {
    const m = JSON.parse(data.toString()) as RealtimeServerMessage;
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const next = () =>
    new Promise<RealtimeServerMessage>((resolve, reject) => {
      const m = queue.shift();
      if (m) return resolve(m);
      const timer = setTimeout(() => reject(new Error("no message within 5 s")), 5000);
      waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  const send = (m: RealtimeClientMessage) => socket.send(JSON.stringify(m));
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve({ socket, next, send }));
    socket.once("error", reject);
  });
}
