package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func init() {
	registerBench("read", "GET /v1/secrets?limit=20: the service beside a raw pgx handler and a hand-written one", benchRead)
}

const readUsage = `usage: jarvis bench read [flags]

Serves GET /v1/secrets?limit=20 for one user with -secrets secrets three ways
(or more, below), each an HTTP server on loopback in a process of its own,
hammered from this process (as a user's client would) by -clients concurrent
clients for -duration, one after the other, for -rounds rounds (short rounds
interleave the servers finely, so that a shared machine's changing load
weighs on all of them alike; each round takes the servers in a new random
order, so that none always comes first, last, or after the same neighbour):

  raw       a pgx handler running the list's SELECT (owner role, no auth)
  manual    a hand-written handler doing exactly the service's work: JWT
            verify once, then on the service role BEGIN READ ONLY,
            jarvis_identify (RLS identity and session check), the service's
            own SELECT and COMMIT, as one pipeline (one round trip)
  service   the real service (jarvis serve, -service-bin) with its rate
            limits off, on a throwaway database

and, when named in -only, the same service with telemetry on, to price it:

  metrics   METRICS_ADDR set (Prometheus metrics recorded; not scraped)
  traces    every request traced (OTEL_TRACES_SAMPLER=always_on) and exported
            over OTLP/HTTP to a receiver in this process that reads and drops it

and, when named in -only, a control:

  control   a second process of the service exactly as configured as
            service: control / service is the bench's own noise floor (what
            two identical servers differ by), against which to read the
            metrics and traces ratios

The database is created from the test template (JARVIS_TEST_DATABASE_URL, else
the local postgres superuser) and dropped at the end.

flags:
`

// benchJWT is the signing configuration the bench gives the service, so the
// hand-written handler can verify the same tokens.
const (
	benchJWTSecret   = "bench-read-jwt-secret-0123456789abcdef"
	benchJWTIssuer   = "jarvis-core"
	benchJWTAudience = "jarvis-api"
)

func benchRead(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench read", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	duration := fs.Duration("duration", time.Second, "measured time per server and round")
	rounds := fs.Int("rounds", 10, "rounds, each measuring every server once")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load on each server before the first round")
	clients := fs.Int("clients", 32, "concurrent clients")
	nSecrets := fs.Int("secrets", 5, "secrets of the user")
	only := fs.String("only", "raw,manual,service", "servers to measure, comma-separated (raw, manual, service, metrics, traces, control)")
	poolSize := fs.Int("pool", 0, "connections per pool, the service's included (0: pgx's default, as the service has)")
	serviceBin := fs.String("service-bin", "", "jarvis binary whose serve is measured (default: this one), to compare builds")
	baselines := fs.Bool("serve-baselines", false, "internal: serve raw and manual (URLs from the environment) until interrupted")
	if err := fs.Parse(args); err != nil {
		var b strings.Builder
		b.WriteString(readUsage)
		fs.SetOutput(&b)
		fs.PrintDefaults()
		return usageError(b.String())
	}

	if *rounds < 1 || *duration <= 0 || *clients < 1 {
		return usageError("-rounds, -duration and -clients must be positive")
	}
	if *baselines {
		return serveBaselines(ctx, stdout, *poolSize)
	}
	bin := *serviceBin
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}

	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d, drop, err := dbtest.Create(setupCtx, "bench_read")
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "jarvis bench read:", err)
		}
	}()

	svcDB := d.AppURL
	if *poolSize > 0 {
		svcDB += fmt.Sprintf("&pool_max_conns=%d", *poolSize)
	}
	svc, err := startBenchService(ctx, bin, svcDB)
	if err != nil {
		return err
	}
	defer svc.stop()
	svcURL := svc.url
	procs := map[string]*benchProcess{"service": svc}
	// The same service with telemetry on, when asked for: metrics only
	// (METRICS_ADDR), and traces sampled at 100% to an OTLP/HTTP receiver.
	var metricsURL, tracesURL string
	var spansReceived atomic.Int64
	want := strings.Split(*only, ",")
	if slices.Contains(want, "metrics") {
		port, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		m, err := startBenchService(ctx, bin, svcDB, map[string]string{"METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", port)})
		if err != nil {
			return err
		}
		defer m.stop()
		metricsURL, procs["metrics"] = m.url, m
	}
	var controlURL string
	if slices.Contains(want, "control") {
		c, err := startBenchService(ctx, bin, svcDB)
		if err != nil {
			return err
		}
		defer c.stop()
		controlURL, procs["control"] = c.url, c
	}
	if slices.Contains(want, "traces") {
		collector, stopCollector, err := serveLoopback(otlpSink(&spansReceived))
		if err != nil {
			return err
		}
		defer stopCollector()
		t, err := startBenchService(ctx, bin, svcDB, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": collector, "OTEL_TRACES_SAMPLER": "always_on"})
		if err != nil {
			return err
		}
		defer t.stop()
		tracesURL, procs["traces"] = t.url, t
	}

	user, err := seedBenchUser(setupCtx, svcURL, *nSecrets)
	if err != nil {
		return err
	}

	base, err := startBaselines(ctx, self, d.OwnerURL, d.AppURL, user.id, *poolSize)
	if err != nil {
		return err
	}
	defer base.stop()
	rawURL, manualURL := base.urls[0], base.urls[1]
	procs["raw"], procs["manual"] = base, base
	targets := []struct{ name, base, what string }{
		{"raw", rawURL, "pgx: SELECT (owner role, no auth)"},
		{"manual", manualURL, "JWT + [BEGIN READ ONLY, jarvis_identify, SELECT, COMMIT] in one round trip"},
		{"service", svcURL, "jarvis serve"},
		{"metrics", metricsURL, "jarvis serve, METRICS_ADDR set"},
		{"traces", tracesURL, "jarvis serve, 100% of traces to OTLP"},
		{"control", controlURL, "jarvis serve again, configured as service"},
	}
	var selected []int
	for i, t := range targets {
		if slices.Contains(want, t.name) {
			selected = append(selected, i)
			if err := checkList(ctx, t.base+"/v1/secrets?limit=20", user.token, *nSecrets); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	if len(selected) == 0 {
		return usageError("-only names no server (raw, manual, service, metrics, traces, control)")
	}
	fmt.Fprintf(stdout, "GET /v1/secrets?limit=20, %d secrets, %d clients, %d rounds of %s per server (after %s warm-up), GOMAXPROCS=%d\n\n",
		*nSecrets, *clients, *rounds, *duration, *warmup, runtime.GOMAXPROCS(0))
	// One client transport per server for the whole run: connections are
	// reused across rounds, as a real client's would be.
	transports := make([]*http.Transport, len(targets))
	for _, i := range selected {
		transports[i] = &http.Transport{MaxIdleConns: *clients, MaxIdleConnsPerHost: *clients, DisableCompression: true}
		defer transports[i].CloseIdleConnections()
		hammer(ctx, transports[i], targets[i].base+"/v1/secrets?limit=20", user.token, *clients, *warmup)
	}
	// Rounds interleave the servers, so that a change in the machine's load
	// (it is shared) weighs on all of them; ratios are taken within a round.
	runs := make([][]loadResult, len(targets))
	var svcManual, svcRaw, metricsSvc, tracesSvc, controlSvc []float64
	for round := 1; round <= *rounds; round++ {
		line := fmt.Sprintf("round %d:", round)
		rates := map[string]float64{}
		// A new random order each round: none always comes first (after
		// the client's idle pause) or last, and none always follows the
		// same server (a rotation would keep the neighbours, and whatever
		// one server leaves behind in Postgres or the CPU caches would
		// always weigh on the next).
		order := slices.Clone(selected)
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, i := range order {
			t := targets[i]
			url := t.base + "/v1/secrets?limit=20"
			cpu0 := procs[t.name].cpu()
			r := hammer(ctx, transports[i], url, user.token, *clients, *duration)
			r.cpu = procs[t.name].cpu() - cpu0
			if ctx.Err() != nil {
				return ctx.Err()
			}
			runs[i] = append(runs[i], r)
			rates[t.name] = r.rate()
		}
		for _, i := range selected { // printed in a fixed order, so rounds line up
			line += fmt.Sprintf("  %s %.0f/s", targets[i].name, rates[targets[i].name])
		}
		if svc, ok := rates["service"]; ok {
			if m, ok := rates["metrics"]; ok {
				metricsSvc = append(metricsSvc, m/svc)
				line += fmt.Sprintf("  metrics/service %.2f", m/svc)
			}
			if tr, ok := rates["traces"]; ok {
				tracesSvc = append(tracesSvc, tr/svc)
				line += fmt.Sprintf("  traces/service %.2f", tr/svc)
			}
			if c, ok := rates["control"]; ok {
				controlSvc = append(controlSvc, c/svc)
				line += fmt.Sprintf("  control/service %.2f", c/svc)
			}
			if m, ok := rates["manual"]; ok {
				svcManual = append(svcManual, svc/m)
				line += fmt.Sprintf("  service/manual %.2f", svc/m)
			}
			if r, ok := rates["raw"]; ok {
				svcRaw = append(svcRaw, svc/r)
				line += fmt.Sprintf("  service/raw %.2f", svc/r)
			}
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "\n%-8s %10s %9s %9s %9s %7s  %s\n", "server", "req/s", "p50", "p99", "CPU/req", "errors", "what")
	for _, i := range selected {
		t := targets[i]
		rates := make([]float64, len(runs[i]))
		var all loadResult
		for j, r := range runs[i] {
			rates[j] = r.rate()
			all.latencies = append(all.latencies, r.latencies...)
			all.errors += r.errors
			all.cpu += r.cpu
		}
		slices.Sort(all.latencies)
		fmt.Fprintf(stdout, "%-8s %10.0f %9s %9s %9s %7d  %s\n", t.name, median(rates), all.p(0.50).Round(time.Microsecond),
			all.p(0.99).Round(time.Microsecond), all.cpuPerRequest().Round(time.Microsecond), all.errors, t.what)
	}
	fmt.Fprintln(stdout, "\n(req/s: median of the rounds; p50/p99 over every request of every round; CPU/req: the\nserver process's CPU (raw and manual share one), Postgres's and the load generator's not)")
	if len(svcManual) > 0 {
		fmt.Fprintf(stdout, "service / manual  = %s\n", spread(svcManual))
	}
	if len(svcRaw) > 0 {
		fmt.Fprintf(stdout, "service / raw     = %s\n", spread(svcRaw))
	}
	if len(metricsSvc) > 0 {
		fmt.Fprintf(stdout, "metrics / service = %s\n", spread(metricsSvc))
	}
	if len(tracesSvc) > 0 {
		fmt.Fprintf(stdout, "traces / service  = %s; %d OTLP export requests received\n", spread(tracesSvc), spansReceived.Load())
	}
	if len(controlSvc) > 0 {
		fmt.Fprintf(stdout, "control / service = %s; the same service twice: the noise floor\n", spread(controlSvc))
	}
	return nil
}

// spread is a ratio's median over the rounds and its middle half (first
// to third quartile, taken symmetrically): how far one round's ratio can
// be trusted. Under four rounds there is no middle half, only the range.
func spread(xs []float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n < 4 {
		return fmt.Sprintf("%.2f (median of %d rounds; range %.2f-%.2f)", median(s), n, s[0], s[n-1])
	}
	lo := int(0.25*float64(n-1) + 0.5)
	return fmt.Sprintf("%.2f (median of %d rounds; middle half %.2f-%.2f)", median(s), n, s[lo], s[n-1-lo])
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// otlpSink is an OTLP/HTTP traces receiver that reads and drops every
// export, counting them: the traced service pays for encoding and
// sending, as it would to a collector.
func otlpSink(n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
}

// benchProcess is a server of the bench in a process of its own.
type benchProcess struct {
	cmd  *exec.Cmd
	url  string
	urls []string
	done chan error
}

// cpu is the process's CPU time so far (user and system, from /proc).
func (p *benchProcess) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th of them, in clock ticks (100 a second).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut) //nolint:errcheck // 0 on a malformed line
	fmt.Sscan(f[12], &st) //nolint:errcheck
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func (p *benchProcess) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startBenchService runs `bin serve` in a process of its own on a free
// loopback port, configured as in production except for the rate limits,
// which are off: the bench's one user would be refused after 30 requests.
// Its logs are formatted as in production (the cost is the service's), then
// discarded.
func startBenchService(ctx context.Context, bin, dbURL string, extra ...map[string]string) (*benchProcess, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	env := []string{
		"APP_ENV=production", "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "LOG_LEVEL=info",
		"DATABASE_URL=" + dbURL, "REDIS_URL=redis://127.0.0.1:6379/0",
		"JWT_SECRET=" + benchJWTSecret, "JWT_ISSUER=" + benchJWTIssuer, "JWT_AUDIENCE=" + benchJWTAudience,
		"SECRETS_MASTER_KEY=" + strings.Repeat("5a", 32), "SHUTDOWN_TIMEOUT=5s",
		"RATELIMIT_IP_PER_MINUTE=0", "RATELIMIT_USER_PER_MINUTE=0",
		"RATELIMIT_AUTH_IP_PER_MINUTE=0", "RATELIMIT_AUTH_ACCOUNT_PER_MINUTE=0",
	}
	for _, e := range extra { // a bench's own settings, last so they win
		for k, v := range e {
			env = append(env, k+"="+v)
		}
	}
	p, err := startProcess(ctx, bin, []string{"serve"}, env, io.Discard, io.Discard)
	if err != nil {
		return nil, err
	}
	p.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("service stopped while starting: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("service not ready after 15s")
		}
	}
}

// startProcess starts bin with args and only env (plus PATH and
// GOMAXPROCS, so that every server of the bench has the same CPUs).
func startProcess(ctx context.Context, bin string, args, env []string, stdout, stderr io.Writer) (*benchProcess, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(env, "PATH="+os.Getenv("PATH"), fmt.Sprintf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0)))
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &benchProcess{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// startBaselines runs the raw and manual servers in one process of their
// own (this binary, -serve-baselines), which prints their URLs.
func startBaselines(ctx context.Context, self, ownerURL, appURL string, user uuid.UUID, pool int) (*benchProcess, error) {
	pr, pw := io.Pipe()
	env := []string{"BENCH_OWNER_URL=" + ownerURL, "BENCH_APP_URL=" + appURL, "BENCH_USER_ID=" + user.String()}
	p, err := startProcess(ctx, self, []string{"bench", "read", "-serve-baselines", fmt.Sprintf("-pool=%d", pool)}, env, pw, os.Stderr)
	if err != nil {
		return nil, err
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for len(p.urls) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				p.stop()
				return nil, errors.New("baselines stopped before serving")
			}
			p.urls = append(p.urls, l)
		case <-time.After(30 * time.Second):
			p.stop()
			return nil, errors.New("baselines not serving after 30s")
		}
	}
	go func() {
		for range lines { //nolint:revive // drain: the child's stdout must not block
		}
	}()
	return p, nil
}

// serveBaselines is the baselines' process: raw and manual on loopback,
// their URLs on stdout, until interrupted.
func serveBaselines(ctx context.Context, stdout io.Writer, poolSize int) error {
	user, err := uuid.Parse(os.Getenv("BENCH_USER_ID"))
	if err != nil {
		return errors.New("BENCH_USER_ID: not a user id")
	}
	ownerPool, err := benchPool(ctx, os.Getenv("BENCH_OWNER_URL"), poolSize)
	if err != nil {
		return err
	}
	defer ownerPool.Close()
	appPool, err := benchPool(ctx, os.Getenv("BENCH_APP_URL"), poolSize)
	if err != nil {
		return err
	}
	defer appPool.Close()
	iss, err := token.NewIssuer([]byte(benchJWTSecret), benchJWTIssuer, benchJWTAudience, time.Hour)
	if err != nil {
		return err
	}
	rawURL, stopRaw, err := serveLoopback(rawListHandler(ownerPool, user))
	if err != nil {
		return err
	}
	defer stopRaw()
	manualURL, stopManual, err := serveLoopback(manualListHandler(appPool, iss))
	if err != nil {
		return err
	}
	defer stopManual()
	fmt.Fprintf(stdout, "%s\n%s\n", rawURL, manualURL)
	<-ctx.Done()
	return nil
}

type benchUser struct {
	id    uuid.UUID
	token string
}

// seedBenchUser registers a user through the API and stores n secrets.
func seedBenchUser(ctx context.Context, base string, n int) (benchUser, error) {
	var tok struct {
		AccessToken string    `json:"access_token"`
		UserID      uuid.UUID `json:"user_id"`
	}
	err := postJSON(ctx, base+"/v1/auth/register", "", map[string]string{
		"email": "bench-read@example.com", "password": "correct horse battery staple",
	}, &tok)
	if err != nil {
		return benchUser{}, fmt.Errorf("register: %w", err)
	}
	for i := range n {
		err := postJSON(ctx, base+"/v1/secrets", tok.AccessToken, map[string]string{
			"provider": "custom", "name": fmt.Sprintf("key-%d", i), "value": fmt.Sprintf("sk-bench-%032d", i),
		}, nil)
		if err != nil {
			return benchUser{}, fmt.Errorf("create secret: %w", err)
		}
	}
	return benchUser{id: tok.UserID, token: tok.AccessToken}, nil
}

func postJSON(ctx context.Context, url, bearer string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// checkList makes sure a server answers the list with every secret before
// it is measured: a fast server that answers nothing proves nothing.
func checkList(ctx context.Context, url, bearer string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct {
			ID   uuid.UUID `json:"id"`
			Name string    `json:"name"`
		} `json:"items"`
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("list: %s: %s", resp.Status, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if len(page.Items) != want {
		return fmt.Errorf("list: %d items, want %d", len(page.Items), want)
	}
	return nil
}

func benchPool(ctx context.Context, url string, size int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("parse database URL: invalid connection string")
	}
	if size > 0 {
		cfg.MaxConns = int32(size)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// benchSecret is the list item the service answers, column for column.
type benchSecret struct {
	ID         uuid.UUID  `json:"id"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Provider   string     `json:"provider"`
	Name       string     `json:"name"`
	KeyVersion int        `json:"key_version"`
	Last4      string     `json:"last4,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// listSQL is the SELECT the service's list sends (the same columns, newest
// first, a page of 20 plus one to know whether another follows).
const listSQL = `SELECT id, created_at, updated_at, user_id, provider, name, last4, key_version, last_used_at
FROM user_secrets WHERE user_id = $1 ORDER BY id DESC LIMIT 21`

func scanSecrets(rows pgx.Rows) ([]benchSecret, error) {
	out := make([]benchSecret, 0, 21)
	for rows.Next() {
		var (
			s     benchSecret
			owner uuid.UUID
			last4 *string
		)
		if err := rows.Scan(&s.ID, &s.CreatedAt, &s.UpdatedAt, &owner, &s.Provider, &s.Name, &last4, &s.KeyVersion, &s.LastUsedAt); err != nil {
			return nil, err
		}
		if last4 != nil {
			s.Last4 = *last4
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func writePage(w http.ResponseWriter, items []benchSecret) {
	if len(items) > 20 {
		items = items[:20]
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(struct { //nolint:errcheck // the client went away
		Items []benchSecret `json:"items"`
	}{items})
}

// rawListHandler is the floor: one SELECT on a pooled connection.
func rawListHandler(pool *pgxpool.Pool, userID uuid.UUID) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows, err := pool.Query(r.Context(), listSQL, userID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		items, err := scanSecrets(rows)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writePage(w, items)
	})
}

// serviceListSQL is the statement ent sends for the service's list, to the
// byte (privacy's owner filter included), so that Postgres and pgx's
// statement cache see the same statement from both.
const serviceListSQL = `SELECT "user_secrets"."id", "user_secrets"."created_at", "user_secrets"."updated_at", "user_secrets"."user_id", "user_secrets"."provider", "user_secrets"."name", "user_secrets"."last4", "user_secrets"."key_version", "user_secrets"."last_used_at" FROM "user_secrets" WHERE "user_secrets"."user_id" = $1 ORDER BY "user_secrets"."id" DESC LIMIT 21`

// manualListHandler is what the service does, written by hand on pgx: the
// JWT verified once, then one pipeline (one round trip) on the service role:
// BEGIN READ ONLY, jarvis_identify (the RLS identity and the live-session
// check), the service's SELECT, COMMIT. A dead session fails the identity
// and nothing after it runs.
func manualListHandler(pool *pgxpool.Pool, iss *token.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c, err := iss.Verify(raw)
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		items, err := func() ([]benchSecret, error) {
			conn, err := pool.Acquire(r.Context())
			if err != nil {
				return nil, err
			}
			defer conn.Release()
			b := &pgx.Batch{}
			b.BeginTx(pgx.TxOptions{AccessMode: pgx.ReadOnly})
			b.Queue("SELECT jarvis_identify($1, $2)", pgtype.UUID{Bytes: c.UserID, Valid: true}, pgtype.UUID{Bytes: c.SessionID, Valid: true})
			b.Queue(serviceListSQL, pgtype.UUID{Bytes: c.UserID, Valid: true})
			b.Queue("COMMIT")
			br := conn.Conn().SendBatch(r.Context(), b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
			if _, err := br.Exec(); err != nil {
				var pg *pgconn.PgError
				if errors.As(err, &pg) && pg.Code == "JV401" {
					return nil, errUnauthorizedBench
				}
				return nil, err
			}
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			items, err := scanSecrets(rows)
			if err != nil {
				return nil, err
			}
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
			return items, br.Close()
		}()
		switch {
		case errors.Is(err, errUnauthorizedBench):
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			writePage(w, items)
		}
	})
}

var errUnauthorizedBench = errors.New("session is no longer valid")

type loadResult struct {
	elapsed   time.Duration
	latencies []time.Duration
	errors    int64
	cpu       time.Duration // this process's CPU time (servers and clients)
}

// cpuPerRequest is this process's CPU time per request: less sensitive to
// the load of a shared machine than req/s, though it leaves out Postgres.
func (r loadResult) cpuPerRequest() time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.cpu / time.Duration(len(r.latencies))
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r loadResult) rate() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

func (r loadResult) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(q*float64(len(r.latencies)-1))]
}

// hammer runs clients loops of GET url for d and returns the successful
// requests' latencies, sorted.
func hammer(ctx context.Context, tr *http.Transport, url, bearer string, clients int, d time.Duration) loadResult {
	return hammerMethod(ctx, tr, http.MethodGet, url, bearer, clients, d)
}

// hammerMethod is hammer with another method than GET (no body).
func hammerMethod(ctx context.Context, tr *http.Transport, method, url, bearer string, clients int, d time.Duration) loadResult {
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu     sync.Mutex
		all    []time.Duration
		errs   atomic.Int64
		wg     sync.WaitGroup
		header = "Bearer " + bearer
	)
	start, cpu0 := time.Now(), processCPU()
	for range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, method, url, nil)
				req.Header.Set("Authorization", header)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil && ctx.Err() != nil:
				case err != nil || resp.StatusCode != http.StatusOK:
					errs.Add(1)
				default:
					lat = append(lat, time.Since(t0))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	slices.Sort(all)
	return loadResult{elapsed: elapsed, latencies: all, errors: errs.Load(), cpu: cpu}
}
