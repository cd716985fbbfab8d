// The browser test's page (bundled by `npm run bundle:page`, served by the Go
// test from an origin other than the API's): one Sessions per tab, as an app
// has, and a Realtime on it. The test drives it through window.harness.
import { Realtime, Sessions, type AuthEvent, type RealtimeState, type ResyncInfo } from "./index.js";

const api = new URLSearchParams(location.search).get("api");
if (!api) throw new Error("the page needs ?api=<base URL>");
const sessions = new Sessions(api, { storageKey: "jarvis.session" });
const authEvents: { event: AuthEvent; at: number; refresh_token?: string }[] = [];
sessions.onAuthStateChange((event, s) => authEvents.push({ event, at: Date.now(), refresh_token: s?.refresh_token }));

let realtime: Realtime | undefined;
const received: { seq: number; text: string }[] = [];
const states: RealtimeState[] = [];
const resyncs: ResyncInfo[] = [];
const errors: unknown[] = [];

const harness = {
  async signUp(email: string, password: string) {
    return (await sessions.signUp({ email, password })).user_id;
  },
  async signOut() {
    await sessions.signOut();
  },
  authEvents: () => authEvents,
  async me() {
    return (await sessions.api.GET("/v1/me")).response.status;
  },
  async createRun() {
    const r = await sessions.api.POST("/v1/runs");
    if (!r.data) throw new Error(`create run: ${r.response.status}`);
    return r.data.id;
  },
  accessToken: () => sessions.accessToken(),
  listen(runId: string) {
    realtime = new Realtime({
      baseUrl: api,
      auth: sessions,
      backoff: { min: 200, max: 2000 },
      onState: (s) => states.push(s),
      onResync: (i) => resyncs.push(i),
      onError: (e) => errors.push(e),
    });
    realtime.subscribeRun(runId, {
      "agent.token": (e) => received.push({ seq: e.seq, text: e.data.text }),
    });
  },
  realtime: () => ({ received, states, resyncs, errors, state: realtime?.currentState }),
};
(window as unknown as { harness: typeof harness }).harness = harness;
