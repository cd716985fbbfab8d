package runs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
)

// call sends a raw JSON request and decodes the answer into a map; it fails
// the test unless the status is want.
func call(t *testing.T, s *apptest.Server, token, method, path, body string, want int) map[string]any {
	t.Helper()
	resp := s.Do(t, method, path, token, body)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, resp.StatusCode, raw, want)
	}
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return out
}

// ids are the ids of a page's items, in order.
func ids(page map[string]any) []string {
	var out []string
	for _, it := range page["items"].([]any) {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

func compactJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunsCarryWhatTheyAreAbout: a run is created with its agent's name,
// input, metadata, tags, parent run and thread; lists filter on them; the
// final output is kept on completion (issue 16, item 13).
func TestRunsCarryWhatTheyAreAbout(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "agent@example.com")
	_, other := s.SignUp(t, "other@example.com")
	at, ot := tok.AccessToken, other.AccessToken

	root := call(t, s, at, http.MethodPost, "/v1/runs", `{"name":"planner","input":{"question":"why?"},
		"metadata":{"env":"prod","n":3},"tags":["beta","eu"],"thread_id":"conv-1"}`, http.StatusCreated)
	if root["name"] != "planner" || root["thread_id"] != "conv-1" || compactJSON(t, root["input"]) != `{"question":"why?"}` ||
		compactJSON(t, root["metadata"]) != `{"env":"prod","n":3}` || compactJSON(t, root["tags"]) != `["beta","eu"]` ||
		root["parent_run_id"] != nil || root["output"] != nil {
		t.Fatalf("root run = %v", root)
	}
	rootID := root["id"].(string)
	child := call(t, s, at, http.MethodPost, "/v1/runs",
		`{"name":"searcher","parent_run_id":"`+rootID+`","thread_id":"conv-1","tags":["eu"],"input":"find it"}`, http.StatusCreated)
	if child["parent_run_id"] != rootID || child["input"] != "find it" {
		t.Fatalf("child run = %v", child)
	}
	childID := child["id"].(string)
	// No body at all is still a run, with empty metadata and tags.
	bare := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusCreated)
	if compactJSON(t, bare["tags"]) != `[]` || compactJSON(t, bare["metadata"]) != `{}` || bare["name"] != nil {
		t.Fatalf("bare run = %v", bare)
	}
	bareID := bare["id"].(string)

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{bareID, childID, rootID}},
		{"?name=planner", []string{rootID}},
		{"?tag=eu", []string{childID, rootID}},
		{"?tag=beta", []string{rootID}},
		{"?tag=none", nil},
		{"?thread_id=conv-1", []string{childID, rootID}},
		{"?parent_run_id=" + rootID, []string{childID}},
		{"?thread_id=conv-1&name=searcher", []string{childID}},
		{"?status=pending&tag=eu&limit=1", []string{childID}},
	} {
		got := ids(call(t, s, at, http.MethodGet, "/v1/runs"+c.query, "", http.StatusOK))
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("GET /v1/runs%s = %v, want %v", c.query, got, c.want)
		}
	}
	// Another user sees none of them, by any filter.
	if got := ids(call(t, s, ot, http.MethodGet, "/v1/runs?thread_id=conv-1", "", http.StatusOK)); len(got) != 0 {
		t.Fatalf("other user's list = %v", got)
	}

	// The final output is kept on completion.
	call(t, s, at, http.MethodPost, "/v1/runs/"+rootID+"/start", "", http.StatusOK)
	done := call(t, s, at, http.MethodPost, "/v1/runs/"+rootID+"/complete", `{"output":{"answer":42}}`, http.StatusOK)
	if done["status"] != "completed" || compactJSON(t, done["output"]) != `{"answer":42}` {
		t.Fatalf("completed run = %v", done)
	}
	read := call(t, s, at, http.MethodGet, "/v1/runs/"+rootID, "", http.StatusOK)
	if compactJSON(t, read["output"]) != `{"answer":42}` || read["name"] != "planner" {
		t.Fatalf("read run = %v", read)
	}
	// Completing without a body still works.
	call(t, s, at, http.MethodPost, "/v1/runs/"+bareID+"/start", "", http.StatusOK)
	call(t, s, at, http.MethodPost, "/v1/runs/"+bareID+"/complete", "", http.StatusOK)

	// Bad input is refused, naming the field, and writes nothing.
	for _, c := range []struct{ body, field string }{
		{`{"parent_run_id":"` + rootID + `"}`, "parent_run_id"}, // another user's run, sent by other below
		{`{"tags":["a","a"]}`, "tags"},
		{`{"name":""}`, "name"},
		{`{"name":"   "}`, "name"},
		{`{"thread_id":"` + strings.Repeat("x", 256) + `"}`, "thread_id"},
		{`{"tags":[` + strings.Repeat(`"t",`, 32) + `"u"]}`, "tags"},
		{`{"metadata":[1]}`, "body"}, // the decoder refuses a non-object
	} {
		resp := call(t, s, ot, http.MethodPost, "/v1/runs", c.body, http.StatusBadRequest)
		if !strings.Contains(compactJSON(t, resp), c.field) {
			t.Errorf("%s: error %v does not name %s", c.body, resp, c.field)
		}
	}
	if got := ids(call(t, s, ot, http.MethodGet, "/v1/runs", "", http.StatusOK)); len(got) != 0 {
		t.Fatalf("refused creates left runs: %v", got)
	}
}

// TestGetLLMCallByID: an LLM call is readable by its id, by its owner only
// (issue 16, item 14).
func TestGetLLMCallByID(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "caller@example.com")
	_, other := s.SignUp(t, "other@example.com")
	at := tok.AccessToken
	run := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusCreated)
	rec := call(t, s, at, http.MethodPost, "/v1/runs/"+run["id"].(string)+"/llm-calls",
		`{"provider":"openai","model":"gpt-4o-mini","input_tokens":1200,"output_tokens":350}`, http.StatusCreated)
	id := rec["id"].(string)
	got := call(t, s, at, http.MethodGet, "/v1/llm-calls/"+id, "", http.StatusOK)
	if compactJSON(t, got) != compactJSON(t, rec) {
		t.Fatalf("GET = %v, recorded %v", got, rec)
	}
	e := call(t, s, other.AccessToken, http.MethodGet, "/v1/llm-calls/"+id, "", http.StatusNotFound)
	if e["error"].(map[string]any)["code"] != "NOT_FOUND" {
		t.Fatalf("other user: %v", e)
	}
	call(t, s, at, http.MethodGet, "/v1/llm-calls/"+run["id"].(string), "", http.StatusNotFound)
}

// TestBudgetAmountsHoldToTheSpec: the spec's pattern for amounts is
// enforced by the server: no exponent, no trailing point, no sign (issue
// 16, item 10).
func TestBudgetAmountsHoldToTheSpec(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "budget@example.com")
	at := tok.AccessToken
	for _, body := range []string{
		`{"limit_usd":"1e3"}`, `{"limit_usd":"1."}`, `{"limit_usd":".5"}`, `{"limit_usd":"-1"}`, `{"limit_usd":"+1"}`,
		`{"limit_usd":" 1"}`, `{"limit_usd":"1.12345678901"}`, `{"limit_usd":"12345678901"}`,
		`{"limit_usd":"10","soft_limit_usd":"5e0"}`, `{"limit_usd":1000}`,
	} {
		e := call(t, s, at, http.MethodPut, "/v1/budget", body, http.StatusBadRequest)
		if e["error"].(map[string]any)["code"] != "VALIDATION_ERROR" {
			t.Errorf("%s: %v", body, e)
		}
	}
	call(t, s, at, http.MethodGet, "/v1/budget", "", http.StatusNotFound) // nothing was stored
	b := call(t, s, at, http.MethodPut, "/v1/budget", `{"limit_usd":"1000.5","soft_limit_usd":"0.0000000001"}`, http.StatusOK)
	if b["limit_usd"] != "1000.5" || b["soft_limit_usd"] != "0.0000000001" {
		t.Fatalf("budget = %v", b)
	}
}

// TestFinishingARunClosesItsPendingToolCalls: a tool call still pending
// when its run ends becomes an error naming why, instead of staying pending
// forever (issue 16, item 15).
func TestFinishingARunClosesItsPendingToolCalls(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "tools@example.com")
	at := tok.AccessToken
	for _, end := range []struct{ verb, body, status string }{
		{"complete", `{"output":"done"}`, "completed"},
		{"fail", `{"error":"model crashed"}`, "failed"},
		{"cancel", "", "cancelled"},
	} {
		run := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusCreated)["id"].(string)
		call(t, s, at, http.MethodPost, "/v1/runs/"+run+"/start", "", http.StatusOK)
		open := call(t, s, at, http.MethodPost, "/v1/runs/"+run+"/tool-calls", `{"tool_id":"search"}`, http.StatusCreated)["id"].(string)
		ended := call(t, s, at, http.MethodPost, "/v1/runs/"+run+"/tool-calls", `{"tool_id":"fetch"}`, http.StatusCreated)["id"].(string)
		call(t, s, at, http.MethodPost, "/v1/tool-calls/"+ended+"/complete", `{"status":"success","output":1}`, http.StatusOK)

		call(t, s, at, http.MethodPost, "/v1/runs/"+run+"/"+end.verb, end.body, http.StatusOK)

		tc := call(t, s, at, http.MethodGet, "/v1/tool-calls/"+open, "", http.StatusOK)
		if tc["status"] != "error" || tc["error"] != "run "+end.status+" before the tool call completed" ||
			tc["completed_at"] == nil || tc["duration_ms"] == nil {
			t.Fatalf("%s: pending tool call after the run ended = %v", end.verb, tc)
		}
		if tc := call(t, s, at, http.MethodGet, "/v1/tool-calls/"+ended, "", http.StatusOK); tc["status"] != "success" {
			t.Fatalf("%s: a completed tool call changed: %v", end.verb, tc)
		}
		call(t, s, at, http.MethodPost, "/v1/tool-calls/"+open+"/complete", `{"status":"success","output":1}`, http.StatusConflict)
	}
}

// TestUnknownModelNamesCannotDodgeAHardBudget: model names are normalized
// before pricing (a U+2010 hyphen or upper case still finds the price), and
// under a hard budget a model without a price is refused unless the
// operator allows unpriced models (issue 16, item 8).
func TestUnknownModelNamesCannotDodgeAHardBudget(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "spender@example.com")
	at := tok.AccessToken
	run := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusCreated)["id"].(string)
	record := func(token, model string, want int) map[string]any {
		t.Helper()
		return call(t, s, token, http.MethodPost, "/v1/runs/"+run+"/llm-calls",
			`{"provider":"OpenAI","model":"`+model+`","input_tokens":1000000}`, want)
	}
	// No budget: an unknown model is recorded without a cost.
	if c := record(at, "x-1", http.StatusCreated); c["total_cost"] != nil {
		t.Fatalf("unpriced call = %v", c)
	}
	call(t, s, at, http.MethodPut, "/v1/budget", `{"limit_usd":"100"}`, http.StatusOK)
	for _, name := range []string{"gpt\u20104o-mini", "GPT-4O-MINI", " gpt\u20114o\u2013mini ", "gpt-4o\u200b-mini", "ｇｐｔ-4o-mini"} {
		c := record(at, name, http.StatusCreated)
		if c["model"] != "gpt-4o-mini" || c["provider"] != "openai" || c["total_cost"] != "0.15" {
			t.Errorf("%q: recorded %v", name, c)
		}
	}
	e := record(at, "gpt-4o-mini-typo", http.StatusPaymentRequired)["error"].(map[string]any)
	if e["code"] != "UNPRICED_MODEL" || !strings.Contains(e["message"].(string), `"gpt-4o-mini-typo"`) {
		t.Fatalf("refusal = %v", e)
	}
	r := call(t, s, at, http.MethodGet, "/v1/runs/"+run, "", http.StatusOK)
	if r["unpriced_calls"] != float64(1) || r["total_cost"] != "0.75" {
		t.Fatalf("run after the refusal = %v", r)
	}
	// The usage report sees one model, however it was spelled.
	now := time.Now().UTC()
	q := "/v1/usage?group_by=model&from=" + now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)
	rows := call(t, s, at, http.MethodGet, q, "", http.StatusOK)["rows"].([]any)
	if len(rows) != 2 {
		t.Fatalf("usage rows = %v", rows)
	}
	for _, row := range rows {
		row := row.(map[string]any)
		if row["model"] == "gpt-4o-mini" && (row["calls"] != float64(5) || row["cost_usd"] != "0.75") {
			t.Fatalf("gpt-4o-mini row = %v", row)
		}
	}
	// A soft budget only warns: the unknown model is recorded.
	call(t, s, at, http.MethodPut, "/v1/budget", `{"limit_usd":"100","hard":false}`, http.StatusOK)
	record(at, "gpt-4o-mini-typo", http.StatusCreated)

	// The operator may allow unpriced models under a hard budget.
	open := apptest.New(t, apptest.Env(map[string]string{"RUNS_ALLOW_UNPRICED_MODELS": "true"}))
	_, tok2 := open.SignUp(t, "spender@example.com")
	call(t, open, tok2.AccessToken, http.MethodPut, "/v1/budget", `{"limit_usd":"100"}`, http.StatusOK)
	run2 := call(t, open, tok2.AccessToken, http.MethodPost, "/v1/runs", "", http.StatusCreated)["id"].(string)
	if c := call(t, open, tok2.AccessToken, http.MethodPost, "/v1/runs/"+run2+"/llm-calls",
		`{"provider":"openai","model":"x-1","input_tokens":5}`, http.StatusCreated); c["total_cost"] != nil {
		t.Fatalf("allowed unpriced call = %v", c)
	}
}

// TestBudgetRefusalSaysTheExactAmount: the 402 names the spend to the last
// digit, never rounded (issue 16, item 9).
func TestBudgetRefusalSaysTheExactAmount(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "exact@example.com")
	at := tok.AccessToken
	call(t, s, at, http.MethodPut, "/v1/budget", `{"limit_usd":"0.01"}`, http.StatusOK)
	run := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusCreated)["id"].(string)
	// 100,000 input tokens of gpt-4o-mini at $0.15 per million: $0.015.
	call(t, s, at, http.MethodPost, "/v1/runs/"+run+"/llm-calls",
		`{"provider":"openai","model":"gpt-4o-mini","input_tokens":100000}`, http.StatusCreated)
	e := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusPaymentRequired)["error"].(map[string]any)
	if msg := e["message"].(string); !strings.Contains(msg, "budget of $0.01 reached: $0.015 spent") {
		t.Fatalf("refusal %q does not say the exact amount", msg)
	}
}

// TestDuplicateJSONNamesAreRefused: a body naming a field twice is 400 and
// changes nothing; decoders keep the last value, which checks may not have
// seen (issue 16, item 11).
func TestDuplicateJSONNamesAreRefused(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "dup@example.com")
	at := tok.AccessToken
	run := call(t, s, at, http.MethodPost, "/v1/runs", "", http.StatusCreated)["id"].(string)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/runs/" + run + "/llm-calls", `{"provider":"openai","model":"gpt-4o-mini","input_tokens":1,"input_tokens":1000000000}`},
		{http.MethodPost, "/v1/runs/" + run + "/llm-calls", `{"provider":"openai","model":"gpt-4o-mini","\u0069nput_tokens":1,"input_tokens":2}`},
		{http.MethodPut, "/v1/budget", `{"limit_usd":"1","limit_usd":"1000000"}`},
		{http.MethodPost, "/v1/runs", `{"metadata":{"a":1,"a":2}}`},
	} {
		e := call(t, s, at, c.method, c.path, c.body, http.StatusBadRequest)["error"].(map[string]any)
		if e["code"] != "VALIDATION_ERROR" || !strings.Contains(e["message"].(string), "twice") {
			t.Errorf("%s: %v", c.body, e)
		}
	}
	r := call(t, s, at, http.MethodGet, "/v1/runs/"+run, "", http.StatusOK)
	if r["input_tokens"] != float64(0) || r["total_cost"] != "0" {
		t.Fatalf("refused bodies changed the run: %v", r)
	}
	call(t, s, at, http.MethodGet, "/v1/budget", "", http.StatusNotFound)
	if got := ids(call(t, s, at, http.MethodGet, "/v1/runs", "", http.StatusOK)); len(got) != 1 {
		t.Fatalf("runs = %v", got)
	}
}
