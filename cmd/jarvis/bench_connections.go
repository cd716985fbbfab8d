package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jarvis-core/jarvis/internal/connections/oauthtest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func init() {
	registerBench("connections", "OAuth token endpoint: a mass expiry refreshed exactly once per connection across two instances; latency beside GET /v1/secrets", benchConnections)
}

const connectionsUsage = `usage: jarvis bench connections [flags]

Runs two instances of the service (jarvis serve, in this process) over one
throwaway database and an OAuth 2.0 provider on loopback (internal/connections/
oauthtest: single-use rotating refresh tokens, counting its token calls).

1. Mass expiry: -connections connections (over -users users) whose access
   tokens all expired, each asked for a token by -callers concurrent callers
   spread over both instances. Checks: provider refreshes = connections
   exactly, none refused, and every caller of a connection got the same token.
2. Latency: POST /v1/connections/{id}/token needing no refresh, hammered by
   -clients clients for -rounds rounds of -duration, interleaved with the read
   benchmark's baseline (GET /v1/secrets?limit=20) on the same instance.

flags:
`

func benchConnections(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench connections", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nConns := fs.Int("connections", 1000, "connections expiring at once")
	nUsers := fs.Int("users", 50, "users holding them")
	callers := fs.Int("callers", 20, "concurrent callers per connection")
	inflight := fs.Int("inflight", 400, "requests in flight at once during the mass expiry")
	providerDelay := fs.Duration("provider-delay", 20*time.Millisecond, "the provider's answer time")
	clients := fs.Int("clients", 32, "concurrent clients of the latency part")
	duration := fs.Duration("duration", time.Second, "measured time per endpoint and round")
	rounds := fs.Int("rounds", 5, "rounds of the latency part")
	if err := fs.Parse(args); err != nil {
		var b strings.Builder
		b.WriteString(connectionsUsage)
		fs.SetOutput(&b)
		fs.PrintDefaults()
		return usageError(b.String())
	}
	if *nConns < 1 || *nUsers < 1 || *nUsers > *nConns || *callers < 1 {
		return usageError("need connections >= users >= 1 and callers >= 1")
	}
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	d, drop, err := dbtest.Create(setupCtx, "bench_connections")
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "jarvis bench connections:", err)
		}
	}()
	provider := oauthtest.New()
	defer provider.Close()
	provider.SetDelay(*providerDelay)
	providers, _ := json.Marshal([]map[string]any{{
		"name": "acme", "client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret,
		"auth_url": provider.URL + "/authorize", "token_url": provider.URL + "/token", "revoke_url": provider.URL + "/revoke",
	}})
	env := map[string]string{
		"CONNECTIONS_PROVIDERS": string(providers),
		// The bench is the only client: per-user and per-IP limits would
		// measure the limiter.
		"RATELIMIT_USER_PER_MINUTE": "0", "RATELIMIT_IP_PER_MINUTE": "0",
		"RATELIMIT_AUTH_IP_PER_MINUTE": "0", "RATELIMIT_AUTH_ACCOUNT_PER_MINUTE": "0",
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}
	svc1, err := startBenchService(ctx, self, d.AppURL, env)
	if err != nil {
		return err
	}
	defer svc1.stop()
	svc2, err := startBenchService(ctx, self, d.AppURL, env)
	if err != nil {
		return err
	}
	defer svc2.stop()
	base1, base2 := svc1.url, svc2.url

	// Users, each with a secret list for the baseline, and the connections.
	type conn struct{ id, token string }
	var conns []conn
	var tokens []string
	perUser := *nConns / *nUsers
	for u := range *nUsers {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := postJSON(setupCtx, base1+"/v1/auth/register", "", map[string]string{
			"email": fmt.Sprintf("bench-conn-%d@example.com", u), "password": "correct horse battery staple",
		}, &tok); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		tokens = append(tokens, tok.AccessToken)
		n := perUser
		if u == *nUsers-1 {
			n = *nConns - perUser*(*nUsers-1)
		}
		for i := range n {
			access, refresh := provider.Grant(fmt.Sprintf("u%d-a%d", u, i))
			var c struct {
				ID string `json:"id"`
			}
			if err := postJSON(setupCtx, base1+"/v1/connections/import", tok.AccessToken, map[string]any{
				"provider": "acme", "account": fmt.Sprintf("account-%d", i), "access_token": access,
				"refresh_token": refresh, "expires_at": time.Now().Add(-time.Minute).Format(time.RFC3339),
			}, &c); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			conns = append(conns, conn{id: c.ID, token: tok.AccessToken})
		}
	}
	for i := range 5 {
		if err := postJSON(setupCtx, base1+"/v1/secrets", tokens[0], map[string]string{
			"provider": "custom", "name": fmt.Sprintf("key-%d", i), "value": fmt.Sprintf("sk-bench-%032d", i),
		}, nil); err != nil {
			return fmt.Errorf("create secret: %w", err)
		}
	}

	// 1. Mass expiry: every caller of a connection is queued next to the
	// others of it, so that -inflight workers ask for ~inflight/callers
	// connections at once, each by all its callers together.
	fmt.Fprintf(stdout, "mass expiry: %d connections over %d users, %d callers each over 2 instances (%d requests, %d in flight), provider answers in %s, GOMAXPROCS=%d\n",
		len(conns), *nUsers, *callers, len(conns)**callers, *inflight, *providerDelay, runtime.GOMAXPROCS(0))
	type job struct{ conn, caller int }
	jobs := make(chan job)
	got := make([][]string, len(conns))
	for i := range got {
		got[i] = make([]string, *callers)
	}
	tr := &http.Transport{MaxIdleConns: *inflight, MaxIdleConnsPerHost: *inflight, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	var lats []time.Duration
	var latMu sync.Mutex
	for range *inflight {
		wg.Go(func() {
			var mine []time.Duration
			for j := range jobs {
				base := base1
				if j.caller%2 == 1 {
					base = base2
				}
				t0 := time.Now()
				v, err := connectionToken(ctx, hc, base, conns[j.conn].id, conns[j.conn].token)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
				got[j.conn][j.caller] = v
			}
			latMu.Lock()
			lats = append(lats, mine...)
			latMu.Unlock()
		})
	}
	for c := range conns {
		for k := range *callers {
			jobs <- job{c, k}
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	mismatched := 0
	for _, g := range got {
		for _, v := range g {
			if v != g[0] || v == "" {
				mismatched++
				break
			}
		}
	}
	slices.Sort(lats)
	all := loadResult{latencies: lats}
	fmt.Fprintf(stdout, "  %s, %.0f req/s, p50 %s, p99 %s\n", elapsed.Round(time.Millisecond),
		float64(len(lats))/elapsed.Seconds(), all.p(0.5).Round(time.Microsecond), all.p(0.99).Round(time.Microsecond))
	fmt.Fprintf(stdout, "  provider refreshes: %d (want %d), refused refresh grants: %d, token calls: %d\n",
		provider.Refreshes(), len(conns), provider.Rejected(), provider.TokenCalls())
	fmt.Fprintf(stdout, "  failed requests: %d, connections whose callers got different tokens: %d\n", failures.Load(), mismatched)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(stdout, "  first failure: %s\n", e)
	}
	var bad []string
	if provider.Refreshes() != int64(len(conns)) {
		bad = append(bad, "refreshes differ from connections")
	}
	if provider.Rejected() != 0 || failures.Load() != 0 || mismatched != 0 {
		bad = append(bad, "refused grants, failed requests or mismatched tokens")
	}

	// 2. Latency of a token request that needs no refresh, beside the read
	// benchmark's baseline, interleaved round by round on instance 1.
	tokenURL := base1 + "/v1/connections/" + conns[0].id + "/token"
	listURL := base1 + "/v1/secrets?limit=20"
	lt := &http.Transport{MaxIdleConns: *clients, MaxIdleConnsPerHost: *clients, DisableCompression: true}
	defer lt.CloseIdleConnections()
	hammerMethod(ctx, lt, http.MethodPost, tokenURL, conns[0].token, *clients, *duration)
	hammer(ctx, lt, listURL, tokens[0], *clients, *duration)
	var tokRes, listRes loadResult
	var ratios []float64
	fmt.Fprintf(stdout, "\nno-refresh token request vs GET /v1/secrets?limit=20 (5 secrets), %d clients, %d rounds of %s each\n", *clients, *rounds, *duration)
	for round := 1; round <= *rounds; round++ {
		a := hammerMethod(ctx, lt, http.MethodPost, tokenURL, conns[0].token, *clients, *duration)
		b := hammer(ctx, lt, listURL, tokens[0], *clients, *duration)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tokRes.latencies = append(tokRes.latencies, a.latencies...)
		tokRes.errors += a.errors
		listRes.latencies = append(listRes.latencies, b.latencies...)
		listRes.errors += b.errors
		ratios = append(ratios, a.rate()/b.rate())
		fmt.Fprintf(stdout, "round %d:  token %.0f/s  list %.0f/s  token/list %.2f\n", round, a.rate(), b.rate(), a.rate()/b.rate())
	}
	slices.Sort(tokRes.latencies)
	slices.Sort(listRes.latencies)
	fmt.Fprintf(stdout, "%-8s %9s %9s %7s\n", "request", "p50", "p99", "errors")
	fmt.Fprintf(stdout, "%-8s %9s %9s %7d\n", "token", tokRes.p(0.5).Round(time.Microsecond), tokRes.p(0.99).Round(time.Microsecond), tokRes.errors)
	fmt.Fprintf(stdout, "%-8s %9s %9s %7d\n", "list", listRes.p(0.5).Round(time.Microsecond), listRes.p(0.99).Round(time.Microsecond), listRes.errors)
	fmt.Fprintf(stdout, "token/list throughput = %.2f (median of rounds); p50 ratio %.2f\n", median(ratios),
		float64(tokRes.p(0.5))/float64(listRes.p(0.5)))
	if provider.Refreshes() != int64(len(conns)) {
		bad = append(bad, "the latency part refreshed")
	}
	if len(bad) > 0 {
		return errors.New("bench connections: " + strings.Join(bad, "; "))
	}
	return nil
}

func connectionToken(ctx context.Context, hc *http.Client, base, id, bearer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/connections/"+id+"/token", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return "", fmt.Errorf("%s %s", resp.Status, e.Error.Code)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", err
	}
	return out.AccessToken, nil
}
