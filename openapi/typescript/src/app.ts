import { AuthError, Realtime, Sessions } from "./index.js";

const API = "http://127.0.0.1:8080"; // the service; its CORS_ALLOWED_ORIGINS must list this page's origin

// One per tab. Tokens live in localStorage and never in a URL; the access
// token is refreshed ahead of expiry and once after a 401, by one tab for all.
export const sessions = new Sessions(API);

// One socket, opened by the first subscription. It authenticates by
// subprotocol, renews its auth before the token expires, and after any drop
// reconnects (backoff with jitter) and resumes where it left off: no event
// is lost or delivered twice.
export const realtime = new Realtime({
  baseUrl: API,
  auth: sessions,
  // The missed events are gone (history trimmed, stream recreated): reload from the API.
  onResync: () => void redraw(),
  onError: (e) => console.warn(`realtime ${e.code}: ${e.message}`),
});

// Every tab follows sign-in and sign-out in any tab.
sessions.onAuthStateChange((event, session) => {
  document.body.dataset.signedIn = String(session !== null);
  if (event === "SIGNED_OUT") output().textContent = "";
});

export async function signIn(email: string, password: string): Promise<void> {
  try {
    await sessions.signIn({ email, password });
  } catch (e) {
    if (e instanceof AuthError && e.code === "INVALID_CREDENTIALS") alert("Wrong e-mail or password");
    else throw e;
  }
}

let current: string | undefined;
const output = () => document.querySelector<HTMLElement>("#answer")!;

/** Creates a run, streams its tokens into #answer, and resolves with the final answer. */
export async function ask(): Promise<string> {
  const created = await sessions.api.POST("/v1/runs");
  if (created.error) throw new Error(created.error.error.code); // typed: the spec's error codes
  const run = created.data;
  current = run.id;
  output().textContent = "";
  let resolve!: (answer: string) => void;
  let reject!: (error: Error) => void;
  const answer = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
  const sub = realtime.subscribeRun(run.id, {
    "agent.token": (e) => output().append(e.data.text), // e.data is AgentTokenData
    "agent.final": (e) => resolve(e.data.content),
    "agent.error": (e) => reject(new Error(e.data.message)),
  });
  // The agent (a worker holding this user's token) emits into the run once it
  // starts: start it when the socket confirmed the subscription.
  await sub.ready;
  await sessions.api.POST("/v1/runs/{id}/start", { params: { path: { id: run.id } } });
  try {
    return await answer;
  } finally {
    sub.unsubscribe();
  }
}

/** After a resync: the run's messages so far, from the API. */
async function redraw(): Promise<void> {
  if (!current) return;
  const page = await sessions.api.GET("/v1/runs/{id}/messages", { params: { path: { id: current } } });
  if (page.data) output().textContent = page.data.items.map((m) => m.content).join("");
}
