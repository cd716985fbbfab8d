// End-to-end test of the generated client against a running server
// (JARVIS_URL). Run by the Go test TestTypeScriptClientEndToEnd, which starts
// the real server on a fresh database.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createJarvisClient, type ErrorCode, type Secret, type TokenResponse } from "./index.js";

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
