// End-to-end test of the generated client against a running server
// (JARVIS_URL). Run by the Go test TestTypeScriptClientEndToEnd, which starts
// the real server on a fresh database.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import WebSocket from "ws";
import { listMySecrets } from "./example.js";
import {
  createJarvisClient,
  exportMe,
  type ExportLine,
  realtimeProtocols,
  type ErrorCode,
  type LLMCall,
  type RealtimeClientMessage,
  type RealtimeEvent,
  type RealtimeReply,
  type RealtimeServerMessage,
  type Run,
  type Secret,
  type TokenResponse,
  type UsageReport,
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

// The README's usage example is src/example.ts (type-checked by tsc with the
// rest), shown as a user writes it: importing the package by name.
test("the README's example runs against the server", async () => {
  const readme = readFileSync("README.md", "utf8");
  const example = readFileSync("src/example.ts", "utf8").replace('"./index.js"', '"@jarvis-core/client"');
  assert.ok(readme.includes("```ts\n" + example + "```"), "README.md's example differs from src/example.ts: copy it over");

  const email = `ts-example-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const reg = await api.POST("/v1/auth/register", { body: { email, password } });
  assert.equal(reg.response.status, 201);
  access = reg.data!.access_token;
  for (const name of ["a", "b"]) {
    const created = await api.POST("/v1/secrets", { body: { provider: "openai", name, value: `sk-live-example-${name}-0123` } });
    assert.equal(created.response.status, 201);
  }
  access = undefined;
  assert.deepEqual(await listMySecrets(baseUrl!, email, password), ["openai/b …0123", "openai/a …0123"]);
});

test("runs: create a run, record an LLM call, read the usage", async () => {
  const email = `ts-runs-${Date.now()}@example.com`;
  const reg = await api.POST("/v1/auth/register", { body: { email, password: "correct horse battery staple" } });
  assert.equal(reg.response.status, 201);
  access = reg.data!.access_token;
  const from = new Date(Date.now() - 60_000).toISOString();

  const created = await api.POST("/v1/runs");
  assert.equal(created.response.status, 201);
  const run: Run = created.data!;
  assert.equal(run.status, "pending");
  assert.equal(run.total_cost, "0");

  const started = await api.POST("/v1/runs/{id}/start", { params: { path: { id: run.id } } });
  assert.equal(started.response.status, 200);
  assert.equal(started.data!.status, "running");

  const recorded = await api.POST("/v1/runs/{id}/llm-calls", {
    params: { path: { id: run.id } },
    body: { provider: "anthropic", model: "claude-sonnet-4-5", input_tokens: 1000, cached_input_tokens: 2000, output_tokens: 500 },
  });
  assert.equal(recorded.response.status, 201);
  const call: LLMCall = recorded.data!;
  // 1000 × $3 + 2000 × $0.30 + 500 × $15 per million: money travels as exact decimal strings.
  assert.equal(call.input_cost, "0.003");
  assert.equal(call.cached_input_cost, "0.0006");
  assert.equal(call.output_cost, "0.0075");
  assert.equal(call.total_cost, "0.0111");

  const totals = await api.GET("/v1/runs/{id}", { params: { path: { id: run.id } } });
  assert.equal(totals.data!.total_tokens, 3500);
  assert.equal(totals.data!.total_cost, "0.0111");

  const usage = await api.GET("/v1/usage", {
    params: { query: { from, to: new Date(Date.now() + 60_000).toISOString(), group_by: "model" } },
  });
  assert.equal(usage.response.status, 200);
  const report: UsageReport = usage.data!;
  assert.equal(report.rows.length, 1);
  const [row] = report.rows;
  assert.ok(row);
  assert.equal(row.model, "claude-sonnet-4-5");
  assert.equal(row.cost_usd, "0.0111");
  assert.equal(row.total_tokens, 3500);

  const done = await api.POST("/v1/runs/{id}/complete", { params: { path: { id: run.id } } });
  assert.equal(done.data!.status, "completed");
  const late = await api.POST("/v1/runs/{id}/llm-calls", {
    params: { path: { id: run.id } },
    body: { provider: "openai", model: "gpt-5", input_tokens: 1 },
  });
  assert.equal(late.response.status, 409);
  expectError(late.error, "CONFLICT");
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
  const email = `ts-realtime-${Date.now()}@example.com`;
  const reg = await api.POST("/v1/auth/register", { body: { email, password: "correct horse battery staple" } });
  assert.equal(reg.response.status, 201);
  const token = reg.data!.access_token;
  const worker = createJarvisClient(apiUrl, { accessToken: () => token });
  const created = await worker.POST("/v1/runs");
  assert.equal(created.response.status, 201);
  const runId = created.data!.id;
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

  // The runs module's status changes arrive as run.status.
  const started = await worker.POST("/v1/runs/{id}/start", { params: { path: { id: runId } } });
  assert.equal(started.response.status, 200);
  const status = (await first.next()) as RealtimeEvent;
  assert.equal(status.type, "run.status");
  assert.equal(status.run_id, runId);
  assert.equal((status.data as { status?: string }).status, "running");

  const emitted = await worker.POST("/v1/runs/{id}/events", {
    params: { path: { id: runId } },
    body: { type: "agent.token", data: { text: "Hel" } },
  });
  assert.equal(emitted.response.status, 202);
  const token1 = (await first.next()) as RealtimeEvent;
  assert.equal(token1.type, "agent.token");
  assert.equal(token1.run_id, runId);
  assert.equal(token1.seq, emitted.data!.seq);
  assert.equal(token1.seq, status.seq + 1);
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

test("memories: store with redaction, search by text, hybrid, knowledge graph", async () => {
  const email = `ts-mem-${Date.now()}@example.com`;
  const reg = await api.POST("/v1/auth/register", { body: { email, password: "correct horse battery staple" } });
  assert.equal(reg.response.status, 201);
  access = reg.data!.access_token;

  const stored = await api.POST("/v1/memories", {
    body: { content: "Ada drinks green tea every morning; write to ada@example.com", metadata: { topic: "food" } },
  });
  assert.equal(stored.response.status, 201);
  const memory = stored.data!;
  assert.equal(memory.content, "Ada drinks green tea every morning; write to [EMAIL]");
  assert.equal(memory.redactions["email"], 1);
  assert.deepEqual(memory.metadata, { topic: "food" });
  await api.POST("/v1/memories", { body: { content: "The quarterly report is due on Friday" } });

  const found = await api.POST("/v1/memories/search", { body: { query: "Ada drinks green tea", threshold: 0.3 } });
  assert.equal(found.response.status, 200);
  assert.equal(found.data!.items.length, 1);
  assert.equal(found.data!.items[0]!.memory.id, memory.id);
  assert.ok(found.data!.items[0]!.similarity >= 0.3);

  const hybrid = await api.POST("/v1/memories/search", { body: { query: "Friday", mode: "hybrid" } });
  assert.equal(hybrid.response.status, 200);
  assert.equal(hybrid.data!.items[0]!.memory.content, "The quarterly report is due on Friday");

  const filtered = await api.POST("/v1/memories/search", {
    body: { query: "green tea", threshold: -1, metadata: { topic: "work" } },
  });
  assert.equal(filtered.data!.items.length, 0);

  const badVector = await api.POST("/v1/memories/search", { body: { vector: [1, 2, 3] } });
  assert.equal(badVector.response.status, 400);
  expectError(badVector.error, "VALIDATION_ERROR");

  const ada = await api.POST("/v1/kg/entities/upsert", { body: { type: "person", name: "Ada" } });
  assert.equal(ada.response.status, 200);
  assert.equal(ada.data!.created, true);
  const tea = await api.POST("/v1/kg/entities", { body: { type: "drink", name: "Green tea" } });
  assert.equal(tea.response.status, 201);
  const rel = await api.POST("/v1/kg/relations", {
    body: { source_id: ada.data!.entity.id, target_id: tea.data!.id, type: "drinks" },
  });
  assert.equal(rel.response.status, 201);
  const near = await api.GET("/v1/kg/entities/{id}/neighbors", {
    params: { path: { id: ada.data!.entity.id }, query: { depth: 2, types: ["drinks"] } },
  });
  assert.equal(near.response.status, 200);
  assert.deepEqual(near.data!.items.map((n) => [n.entity.name, n.distance]), [["Green tea", 1]]);
  assert.deepEqual(near.data!.items[0]!.path, [ada.data!.entity.id, tea.data!.id]);

  const gone = await api.DELETE("/v1/memories/{id}", { params: { path: { id: memory.id } } });
  assert.equal(gone.response.status, 204);
});

test("export: everything of the user, streamed, then the account deleted", async () => {
  const email = `ts-export-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const reg = await api.POST("/v1/auth/register", { body: { email, password } });
  assert.equal(reg.response.status, 201);
  access = reg.data!.access_token;
  const stored = await api.POST("/v1/memories", { body: { content: "Ada drinks green tea" } });
  assert.equal(stored.response.status, 201);

  const lines: ExportLine[] = [];
  for await (const line of exportMe(api)) lines.push(line);
  const header = lines[0]!;
  assert.equal(header.type, "header");
  if (header.type === "header") {
    assert.equal(header.format, "jarvis.export");
    assert.equal(header.user_id, reg.data!.user_id);
    assert.equal(header.tables[0], "users");
  }
  const rows = lines.filter((l) => l.type === "row");
  const memories = rows.filter((l) => l.type === "row" && l.table === "memories");
  assert.equal(memories.length, 1);
  if (memories[0]!.type === "row") {
    assert.equal(memories[0]!.data["content"], "Ada drinks green tea");
    assert.equal(memories[0]!.data["embedding"], undefined);
  }
  for (const l of rows) {
    if (l.type === "row") assert.equal(l.data["password_hash"], undefined);
  }
  const end = lines[lines.length - 1]!;
  assert.equal(end.type, "end");
  if (end.type === "end") assert.equal(end.counts["memories"], 1);

  const wrong = await api.DELETE("/v1/me", { body: { password: "not the password at all" } });
  assert.equal(wrong.response.status, 403);
  expectError(wrong.error, "FORBIDDEN");
  const gone = await api.DELETE("/v1/me", { body: { password } });
  assert.equal(gone.response.status, 204);
  const me = await api.GET("/v1/me");
  assert.equal(me.response.status, 401);
  await assert.rejects(async () => {
    for await (const _ of exportMe(api)) void _;
  });
});
