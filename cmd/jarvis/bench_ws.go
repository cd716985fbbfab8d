package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/realtime"
)

func init() {
	registerBench("ws", "WebSocket fan-out: two instances on Redis, N sockets, emit→receive latency and RSS per socket", runBenchWS)
}

// The bench runs three processes on loopback: two service instances
// (children of this one, each a realtime Hub on the Redis engine behind an
// HTTP server), and this process as the load: it opens every socket on
// instance A, one user per socket, and asks instance B to emit at a fixed
// rate to those users, so that every event crosses instances through Redis.
// Each event carries its emit time; the load records emit→receive latency.
// Memory is instance A's RSS (VmRSS) before and after the sockets connect.
//
// Authentication is the access-token check alone (the same token.Issuer
// verification): the per-handshake session query needs a database and is
// not on the delivery path measured here.

const benchWSSecretEnv = "JARVIS_BENCH_WS_SECRET"

func runBenchWS(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench ws", flag.ContinueOnError)
	serve := fs.Bool("serve", false, "run as one service instance (used by the bench itself)")
	sockets := fs.String("sockets", "1000,10000", "comma-separated socket counts to measure, each a separate run")
	rate := fs.Int("rate", 10000, "events per second emitted (each to one socket)")
	duration := fs.Duration("duration", 10*time.Second, "how long to emit at each socket count")
	defaultRedis := os.Getenv("REDIS_URL")
	if defaultRedis == "" {
		defaultRedis = "redis://127.0.0.1:6379/0"
	}
	redisURL := fs.String("redis", defaultRedis, "Redis both instances share")
	prefix := fs.String("prefix", "", "Redis key prefix (default: a fresh one, deleted afterwards)")
	api := fs.Bool("api", false, "also measure through the public API: two `jarvis serve` processes, sockets on one, events POSTed to the other from this process")
	users := fs.Int("users", 1000, "with -api: users (registered through the API, one run each); sockets are spread over them")
	clients := fs.Int("clients", 64, "with -api: concurrent HTTP publishers")
	batch := fs.Int("batch", 1, "with -api: events per request (over 1: POST /v1/runs/{id}/event-batches)")
	serviceBin := fs.String("service-bin", "", "with -api: jarvis binary whose serve is measured (default: this one), to compare builds")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error() + "\n")
	}
	raiseOpenFiles()
	if *serve {
		return benchWSServe(ctx, *redisURL, *prefix, stdout)
	}
	counts, err := parseCounts(*sockets)
	if err != nil {
		return usageError(err.Error() + "\n")
	}
	if *prefix == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		*prefix = "jarvis:bench:rt:" + hex.EncodeToString(b[:]) + ":"
	}
	defer cleanRedisPrefix(*redisURL, *prefix)

	fmt.Fprintf(stdout, "jarvis bench ws: 2 instances on Redis (%s), %d events/s for %s per run, GOMAXPROCS=%d, %d CPUs, load average %s\n\n",
		*redisURL, *rate, *duration, runtime.GOMAXPROCS(0), runtime.NumCPU(), loadAverage())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sockets\tdelivered/s\tp50\tp99\tmax\tlost\tRSS idle A\tRSS A after\tper socket\t")
	for _, n := range counts {
		r, err := benchWSRun(ctx, n, *rate, *duration, *redisURL, *prefix)
		if err != nil {
			return fmt.Errorf("%d sockets: %w", n, err)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n", n, r.deliveredPerSec,
			fmtDur(r.p50), fmtDur(r.p99), fmtDur(r.max), r.lost,
			fmtMB(r.rssConnected), fmtMB(r.rssAfter), fmtKB(float64(r.rssConnected-r.rssBase)/float64(n)))
	}
	if err := tw.Flush(); err != nil || !*api {
		return err
	}
	fmt.Fprintf(stdout, "\nthrough the API (in-process publish above): `jarvis serve` ×2, POST /v1/runs/{id}/events on B from %d clients (%d events per request), sockets on A over %d users\n\n", *clients, *batch, *users)
	fmt.Fprintln(tw, "sockets\tpublished/s\tdelivered\tp50\tp99\tmax\temit p50\temit p99\tCPU/event A · B\tlost\tdup\treordered\trefused\tRSS A idle\tRSS A sockets\tRSS A after\tload avg\tsteal\tevents over p99 (100 ms windows)\t")
	for _, n := range counts {
		u := min(*users, n)
		r, err := benchWSAPIRun(ctx, *serviceBin, n, u, *rate, *clients, *batch, *duration, *prefix)
		if err != nil {
			return fmt.Errorf("api, %d sockets: %w", n, err)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%.1f · %.1f µs\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", n, r.publishedPerSec, r.deliveries,
			fmtDur(r.p50), fmtDur(r.p99), fmtDur(r.max), fmtDur(r.emitP50), fmtDur(r.emitP99),
			float64(r.cpuA.Nanoseconds())/1e3, float64(r.cpuB.Nanoseconds())/1e3, r.lost, r.duplicated, r.reordered, r.refused,
			fmtMB(r.rssBase), fmtMB(r.rssConnected), fmtMB(r.rssAfter), loadAverage(), fmt.Sprintf("%.1f%%", 100*r.steal), r.tail)
	}
	return tw.Flush()
}

// loadAverage is /proc/loadavg's three figures: the machine is shared.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func sortDurations(d []time.Duration) { slices.Sort(d) }

type benchWSResult struct {
	deliveredPerSec       float64
	p50, p99, max         time.Duration
	lost                  int64
	rssBase, rssConnected int64
	rssAfter              int64
}

func benchWSRun(ctx context.Context, n, rate int, d time.Duration, redisURL, prefix string) (benchWSResult, error) {
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	a, err := startBenchInstance(ctx, secret[:], redisURL, prefix)
	if err != nil {
		return benchWSResult{}, err
	}
	defer a.stop()
	b, err := startBenchInstance(ctx, secret[:], redisURL, prefix)
	if err != nil {
		return benchWSResult{}, err
	}
	defer b.stop()
	iss, err := token.NewIssuer(secret[:], "jarvis-bench", "jarvis-bench", time.Hour)
	if err != nil {
		return benchWSResult{}, err
	}
	time.Sleep(500 * time.Millisecond) // let start-up garbage settle before the baseline
	var res benchWSResult
	if res.rssBase, err = a.rss(ctx); err != nil {
		return res, err
	}

	// One user per socket; B derives the same ids from the seed.
	seed := uuid.New()
	users := benchUsers(seed, n)
	lat := newLatencies(n)
	conns := make([]*websocket.Conn, n)
	var (
		wg      sync.WaitGroup
		dialErr atomic.Value
		next    atomic.Int64
	)
	dialer := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				tok, _, err := iss.Issue(users[i], uuid.New())
				if err == nil {
					var ws *websocket.Conn
					dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					ws, _, err = websocket.Dial(dctx, a.url, &websocket.DialOptions{HTTPClient: dialer, HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
					cancel()
					if err == nil {
						conns[i] = ws
						_, _, err = ws.Read(ctx) // "connected"
					}
				}
				if err != nil {
					dialErr.Store(fmt.Errorf("socket %d: %w", i, err))
					return
				}
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	}()
	if err, _ := dialErr.Load().(error); err != nil {
		return res, err
	}
	var readers sync.WaitGroup
	for i, c := range conns {
		readers.Go(func() { wsReadLoop(c, lat, i) })
	}
	// A new socket holds its events for REALTIME_RESUME_GRACE (it does not
	// resume here): measure only once every socket is live.
	time.Sleep(realtime.DefaultConfig().ResumeGrace + time.Second)
	if res.rssConnected, err = a.rss(ctx); err != nil {
		return res, err
	}

	// JARVIS_BENCH_PROFILE_DIR=dir: CPU profiles of both instances while
	// they emit and deliver.
	if dir := os.Getenv("JARVIS_BENCH_PROFILE_DIR"); dir != "" {
		for name, in := range map[string]*benchInstance{"a": a, "b": b} {
			go in.profile(ctx, d, fmt.Sprintf("%s/ws-%d-%s.cpu.prof", dir, n, name))
		}
	}
	start := time.Now()
	emitted, err := b.emit(ctx, seed, n, rate, d)
	if err != nil {
		return res, err
	}
	// Wait for the last events to arrive (or be lost).
	deadline := time.Now().Add(5 * time.Second)
	for lat.count.Load() < emitted && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if res.rssAfter, err = a.rss(ctx); err != nil {
		return res, err
	}
	got := lat.count.Load()
	res.lost = emitted - got
	res.deliveredPerSec = float64(got) / min(elapsed.Seconds(), d.Seconds()+0.001)
	all := lat.merge()
	if len(all) > 0 {
		res.p50, res.p99, res.max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}
	for _, c := range conns {
		_ = c.CloseNow()
	}
	readers.Wait()
	return res, nil
}

// wsReadLoop records the latency of every event socket i receives.
func wsReadLoop(c *websocket.Conn, lat *latencies, i int) {
	type event struct {
		Data struct {
			T int64 `json:"t"`
		} `json:"data"`
	}
	for {
		var m event
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if err := json.Unmarshal(b, &m); err != nil || m.Data.T == 0 {
			continue
		}
		lat.add(i, time.Duration(now-m.Data.T))
	}
}

// latencies are per-socket samples (one writer each), merged at the end.
type latencies struct {
	per   [][]time.Duration
	count atomic.Int64
}

func newLatencies(n int) *latencies { return &latencies{per: make([][]time.Duration, n)} }

func (l *latencies) add(i int, d time.Duration) {
	l.per[i] = append(l.per[i], d)
	l.count.Add(1)
}

func (l *latencies) merge() []time.Duration {
	var all []time.Duration
	for _, p := range l.per {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all
}

func benchUsers(seed uuid.UUID, n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.NewSHA1(seed, []byte(strconv.Itoa(i)))
	}
	return out
}

// benchInstance is a child process running benchWSServe.
type benchInstance struct {
	cmd  *exec.Cmd
	base string // http://host:port
	url  string // ws://host:port/v1/ws
}

func startBenchInstance(ctx context.Context, secret []byte, redisURL, prefix string) (*benchInstance, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "ws", "-serve", "-redis", redisURL, "-prefix", prefix)
	cmd.Env = append(os.Environ(), benchWSSecretEnv+"="+hex.EncodeToString(secret))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start instance: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("instance did not start: %w", err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	return &benchInstance{cmd: cmd, base: "http://" + addr, url: "ws://" + addr + "/v1/ws"}, nil
}

func (b *benchInstance) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}

func (b *benchInstance) rss(ctx context.Context) (int64, error) {
	var s struct {
		RSS        int64 `json:"rss"`
		HeapInuse  int64 `json:"heap_inuse"`
		HeapAlloc  int64 `json:"heap_alloc"`
		StackInuse int64 `json:"stack_inuse"`
		Goroutines int   `json:"goroutines"`
		Sockets    int   `json:"sockets"`
	}
	err := b.call(ctx, "/bench/stats", nil, &s)
	if os.Getenv("JARVIS_BENCH_VERBOSE") != "" {
		fmt.Fprintf(os.Stderr, "instance: %+v\n", s)
	}
	return s.RSS, err
}

func (b *benchInstance) profile(ctx context.Context, d time.Duration, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.base, int(d.Seconds())), nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	if f, err := os.Create(path); err == nil {
		_, _ = io.Copy(f, resp.Body)
		_ = f.Close()
	}
}

func (b *benchInstance) emit(ctx context.Context, seed uuid.UUID, users, rate int, d time.Duration) (int64, error) {
	var s struct {
		Emitted int64 `json:"emitted"`
	}
	err := b.call(ctx, "/bench/emit", benchEmit{Seed: seed, Users: users, Rate: rate, Duration: d}, &s)
	return s.Emitted, err
}

func (b *benchInstance) call(ctx context.Context, path string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+path, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", path, resp.Status, msg)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type benchEmit struct {
	Seed     uuid.UUID     `json:"seed"`
	Users    int           `json:"users"`
	Rate     int           `json:"rate"`
	Duration time.Duration `json:"duration"`
}

// benchAuth verifies access tokens without the session lookup (see above).
type benchAuth struct{ iss *token.Issuer }

func (a benchAuth) Authenticate(_ context.Context, access string) (realtime.Identity, error) {
	c, err := a.iss.Verify(access)
	if err != nil {
		return realtime.Identity{}, fault.New(fault.Unauthorized, "unauthorized").Wrap(err)
	}
	return realtime.Identity{UserID: c.UserID, SessionID: c.SessionID, ExpiresAt: c.ExpiresAt}, nil
}

// benchWSServe is one instance: GET /v1/ws, plus the bench's control
// endpoints (stats, emit). It prints its address, then serves until ctx ends.
func benchWSServe(ctx context.Context, redisURL, prefix string, stdout io.Writer) error {
	secret, err := hex.DecodeString(os.Getenv(benchWSSecretEnv))
	if err != nil || len(secret) < 32 {
		return errors.New(benchWSSecretEnv + " must hold the bench's token secret (hex)")
	}
	iss, err := token.NewIssuer(secret, "jarvis-bench", "jarvis-bench", time.Hour)
	if err != nil {
		return err
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	opts.PoolSize = 64
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := realtime.DefaultConfig()
	cfg.RedisPrefix = prefix
	broker := realtime.NewRedisBroker(rdb, prefix, cfg.Retention(), log)
	hub := realtime.NewHub(cfg, broker, benchAuth{iss}, log)
	if err := hub.Start(ctx); err != nil {
		return err
	}
	pub := realtime.NewPublisher(cfg, broker)

	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", hub)
	mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("POST /bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if path := os.Getenv("JARVIS_BENCH_HEAP_PROFILE"); path != "" && hub.Connected() > 0 {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"rss": readRSS(), "sockets": hub.Connected(), "goroutines": runtime.NumGoroutine(),
			"heap_inuse": ms.HeapInuse, "heap_alloc": ms.HeapAlloc, "stack_inuse": ms.StackInuse, "sys": ms.Sys})
	})
	mux.HandleFunc("POST /bench/emit", func(w http.ResponseWriter, r *http.Request) {
		var in benchEmit
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Users <= 0 || in.Rate <= 0 {
			http.Error(w, "bad emit request", http.StatusBadRequest)
			return
		}
		n, err := benchEmitLoad(r.Context(), pub, in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"emitted": n})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hub.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

// benchEmitLoad emits in.Rate events per second for in.Duration, round robin
// over the users, from a pool of publishers (each Publish is a Redis round
// trip).
func benchEmitLoad(ctx context.Context, pub *realtime.Publisher, in benchEmit) (int64, error) {
	users := benchUsers(in.Seed, in.Users)
	jobs := make(chan uuid.UUID, in.Rate)
	var (
		wg      sync.WaitGroup
		emitted atomic.Int64
		failed  atomic.Value
	)
	for range 32 {
		wg.Go(func() {
			for u := range jobs {
				data := strconv.AppendInt([]byte(`{"t":`), time.Now().UnixNano(), 10)
				data = append(data, `,"text":"token"}`...)
				if err := pub.EmitToUser(ctx, u, events.Event{Type: events.AgentToken, Data: data}); err != nil {
					failed.Store(err)
					continue
				}
				emitted.Add(1)
			}
		})
	}
	const tick = time.Millisecond
	per := float64(in.Rate) * tick.Seconds()
	t := time.NewTicker(tick)
	start := time.Now()
	sent, i := 0, 0
loop:
	for now := range t.C {
		if now.Sub(start) >= in.Duration {
			break
		}
		due := int(float64(now.Sub(start)/tick+1) * per)
		for ; sent < due; sent++ {
			select {
			case jobs <- users[i%len(users)]:
				i++
			case <-ctx.Done():
				break loop
			}
		}
	}
	t.Stop()
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return emitted.Load(), fmt.Errorf("emit: %w", err)
	}
	return emitted.Load(), nil
}

// readRSS is this process's resident set size in bytes (Linux).
func readRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseOpenFiles lifts the soft open-file limit to the hard one: each
// socket is a file, and the default soft limit (1024) is far below 10k.
func raiseOpenFiles() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func cleanRedisPrefix(url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-sockets: %q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func fmtDur(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
func fmtMB(b int64) string   { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MB" }
func fmtKB(b float64) string { return strconv.FormatFloat(b/1024, 'f', 1, 64) + " KB" }
