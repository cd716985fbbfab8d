// End-to-end test of OAuth connections through the generated client against
// a running server (JARVIS_URL): connect by import, get a token, list, delete.
// Run by the Go test TestTypeScriptClientEndToEnd beside e2e.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createJarvisClient, type components, type ErrorCode } from "./index.js";

type Connection = components["schemas"]["Connection"];

const baseUrl = process.env.JARVIS_URL;
if (!baseUrl) throw new Error("JARVIS_URL is not set");

test("connections: import, token, list, delete", async () => {
  let access: string | undefined;
  const api = createJarvisClient(baseUrl, { accessToken: () => access });
  const reg = await api.POST("/v1/auth/register", {
    body: { email: `ts-conn-${Date.now()}@example.com`, password: "correct horse battery staple" },
  });
  assert.equal(reg.response.status, 201);
  access = reg.data!.access_token;

  const providers = await api.GET("/v1/connection-providers");
  assert.equal(providers.response.status, 200);
  assert.ok(providers.data!.items.some((p) => p.name === "github"));

  const secretToken = "gho_typescript_import_0123456789";
  const imported = await api.POST("/v1/connections/import", {
    body: { provider: "github", account: "octocat", access_token: secretToken, scopes: ["repo"] },
  });
  assert.equal(imported.response.status, 201);
  const conn: Connection = imported.data!;
  assert.equal(conn.provider, "github");
  assert.equal(conn.account, "octocat");
  assert.equal(conn.status, "active");
  assert.deepEqual(conn.scopes, ["repo"]);
  assert.ok(!JSON.stringify(conn).includes(secretToken), "the import's answer shows the token");

  const tok = await api.POST("/v1/connections/{id}/token", { params: { path: { id: conn.id } } });
  assert.equal(tok.response.status, 200);
  assert.equal(tok.data!.access_token, secretToken);
  assert.equal(tok.data!.token_type, "Bearer");
  assert.equal((tok.data as Record<string, unknown>)["refresh_token"], undefined);

  const list = await api.GET("/v1/connections", { params: { query: { limit: 10 } } });
  assert.equal(list.response.status, 200);
  assert.deepEqual(list.data!.items.map((c) => c.id), [conn.id]);
  assert.ok(!JSON.stringify(list.data).includes(secretToken), "the list shows a token");

  const del = await api.DELETE("/v1/connections/{id}", { params: { path: { id: conn.id } } });
  assert.equal(del.response.status, 204);
  const gone = await api.POST("/v1/connections/{id}/token", { params: { path: { id: conn.id } } });
  assert.equal(gone.response.status, 404);
  const code: ErrorCode = gone.error!.error.code;
  assert.equal(code, "NOT_FOUND");
});
