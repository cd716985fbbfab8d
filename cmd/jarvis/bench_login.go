package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

func init() {
	registerBench("login", "login flood: server RSS and a signed-in bystander's latency under 200 concurrent logins", benchLogin)
}

// benchLogin repeats the flood of issue 11: many clients hammer
// POST /v1/auth/login (half against one real account with wrong passwords,
// half against unknown emails, both of which cost a password hash) while
// one signed-in bystander reads GET /v1/me. The server is this binary's
// `serve`, run as a child process so its RSS is its own, against a
// throw-away database that is dropped at the end. Loopback only.
func benchLogin(ctx context.Context, args []string, stdout io.Writer) error {
	mc, err := config.Load[migrateConfig](config.Environ())
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("bench login", flag.ContinueOnError)
	clients := fs.Int("clients", 200, "concurrent login clients")
	duration := fs.Duration("duration", 20*time.Second, "length of the flood")
	adminURL := fs.String("admin-url", mc.DevURL, "superuser URL of the local Postgres server")
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379/0", "REDIS_URL for the server (empty: in-process limits)")
	spoof := fs.Bool("spoof-ips", true, "each login comes from a different client IP (X-Forwarded-For through a trusted loopback proxy): a botnet, the worst case for per-IP limits")
	readEvery := fs.Duration("read-every", 100*time.Millisecond, "pause between the bystander's reads")
	serverLog := fs.String("server-log", "", "write the server's log to this file (default: discard)")
	if err := fs.Parse(args); err != nil {
		return usageError("usage: jarvis bench login [-clients 200] [-duration 20s] [-admin-url URL] [-redis-url URL] [-spoof-ips] [-read-every 100ms] [-server-log FILE]\n")
	}
	if *clients < 1 || *duration <= 0 || *duration > 10*time.Minute {
		return usageError("bench login: -clients must be ≥ 1 and -duration within (0, 10m]\n")
	}
	log := logging.New(os.Stderr, slog.LevelInfo)

	// A database of its own, dropped at the end.
	suffix := strings.ToLower(rand.Text()[:8])
	p := db.Provisioning{
		AdminURL: *adminURL, Database: "jarvis_bench_login_" + suffix,
		Owner: "jarvis_bench_owner", OwnerPassword: randomHex(16),
		Service: "jarvis_bench_service", ServicePassword: randomHex(16),
	}
	if err := p.Prepare(ctx); err != nil {
		return fmt.Errorf("provision bench database: %w", err)
	}
	defer dropBenchDatabase(*adminURL, p.Database, log)
	ownerURL, serviceURL, err := p.URLs()
	if err != nil {
		return err
	}
	if err := migrateUp(ctx, ownerURL, log); err != nil {
		return err
	}
	if err := p.GrantService(ctx); err != nil {
		return fmt.Errorf("provision service role: %w", err)
	}

	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	cmd := exec.CommandContext(srvCtx, self, "serve")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(),
		"APP_ENV=development", "HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "LOG_LEVEL=warn",
		"DATABASE_URL="+serviceURL, "REDIS_URL="+*redisURL,
		"JWT_SECRET="+randomToken(48), "SECRETS_MASTER_KEY="+randomHex(32),
		// The bench measures what the flood does to others, so the
		// bystander's own per-user and per-IP budgets are raised above its
		// read rate; every other limit keeps its default.
		"RATELIMIT_USER_PER_MINUTE=100000", "RATELIMIT_IP_PER_MINUTE=100000",
	)
	if *spoof {
		cmd.Env = append(cmd.Env, "TRUSTED_PROXIES=127.0.0.1/32")
	}
	cmd.Stdout = io.Discard
	cmd.Stderr = io.Discard
	if *serverLog != "" {
		f, err := os.Create(*serverLog)
		if err != nil {
			return fmt.Errorf("server log: %w", err)
		}
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	defer func() {
		stopSrv()
		<-waitErr
	}()

	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *clients + 8, MaxIdleConnsPerHost: *clients + 8, IdleConnTimeout: time.Minute,
	}}
	if err := waitReady(ctx, hc, base, waitErr); err != nil {
		return err
	}

	const bystanderIP, victimIP = "192.0.2.10", "192.0.2.11"
	access, err := benchRegister(ctx, hc, base, "bystander@example.com", bystanderIP)
	if err != nil {
		return err
	}
	if _, err := benchRegister(ctx, hc, base, "victim@example.com", victimIP); err != nil {
		return err
	}
	// The bystander's quiet latency first, as the baseline.
	quiet, _, err := bystander(ctx, hc, base, access, bystanderIP, 2*time.Second, *readEvery)
	if err != nil {
		return err
	}
	rssBefore, _, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	cpuBefore, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return err
	}
	floodStart := time.Now()

	var (
		statuses sync.Map // int → *atomic.Int64
		logins   []time.Duration
		mu       sync.Mutex
		wg       sync.WaitGroup
		transErr atomic.Int64
	)
	count := func(code int) {
		v, _ := statuses.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	floodCtx, stopFlood := context.WithTimeout(ctx, *duration)
	defer stopFlood()
	peak := &rssPeak{}
	go peak.sample(floodCtx, cmd.Process.Pid)
	for i := range *clients {
		wg.Go(func() {
			var mine []time.Duration
			for n := 0; floodCtx.Err() == nil; n++ {
				email := fmt.Sprintf("bot-%d-%d@example.com", i, n)
				if n%2 == 0 {
					email = "victim@example.com"
				}
				ip := "198.51.100.1"
				if *spoof {
					ip = randomIP()
				}
				start := time.Now()
				code, err := benchPost(floodCtx, hc, base+"/v1/auth/login", ip,
					map[string]string{"email": email, "password": "wrong password " + strconv.Itoa(n)}, nil)
				if err != nil {
					if floodCtx.Err() == nil {
						transErr.Add(1)
					}
					continue
				}
				mine = append(mine, time.Since(start))
				count(code)
			}
			mu.Lock()
			logins = append(logins, mine...)
			mu.Unlock()
		})
	}
	loud, loudErrs, err := bystander(floodCtx, hc, base, access, bystanderIP, *duration, *readEvery)
	wg.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	rssAfter, hwm, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	cpuAfter, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return err
	}
	loadavg, _ := os.ReadFile("/proc/loadavg")

	fmt.Fprintf(stdout, "login flood: %d clients for %s (spoofed client IPs: %v), server pid %d\n", *clients, *duration, *spoof, cmd.Process.Pid)
	fmt.Fprintf(stdout, "server RSS: %.0f MB before, %.0f MB peak sampled, %.0f MB high-water mark (VmHWM), %.0f MB after\n",
		mb(rssBefore), mb(max(peak.max(), rssAfter)), mb(hwm), mb(rssAfter))
	fmt.Fprintf(stdout, "server CPU during the flood: %.0f%% of one core; machine load average %s\n",
		100*(cpuAfter-cpuBefore).Seconds()/time.Since(floodStart).Seconds(), strings.Join(strings.Fields(string(loadavg))[:3], " "))
	fmt.Fprintf(stdout, "bystander GET /v1/me quiet:  n=%d p50=%s p99=%s max=%s\n", len(quiet), pct(quiet, 50), pct(quiet, 99), pct(quiet, 100))
	fmt.Fprintf(stdout, "bystander GET /v1/me flood:  n=%d p50=%s p99=%s max=%s non-200=%d\n", len(loud), pct(loud, 50), pct(loud, 99), pct(loud, 100), loudErrs)
	fmt.Fprintf(stdout, "logins: n=%d p50=%s p99=%s (%.0f/s); transport errors %d; by status:",
		len(logins), pct(logins, 50), pct(logins, 99), float64(len(logins))/duration.Seconds(), transErr.Load())
	var codes []int
	statuses.Range(func(k, _ any) bool { codes = append(codes, k.(int)); return true })
	slices.Sort(codes)
	for _, c := range codes {
		v, _ := statuses.Load(c)
		fmt.Fprintf(stdout, " %d=%d", c, v.(*atomic.Int64).Load())
	}
	fmt.Fprintln(stdout)
	return nil
}

func dropBenchDatabase(adminURL, name string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := db.OpenSQL(ctx, adminURL)
	if err != nil {
		log.Warn("bench: drop database", slog.String("database", name), slog.Any("error", err))
		return
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS "%s" WITH (FORCE)`, name)); err != nil {
		log.Warn("bench: drop database", slog.String("database", name), slog.String("url", pgmigrate.Redact(adminURL)), slog.Any("error", err))
	}
}

func waitReady(ctx context.Context, hc *http.Client, base string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("server exited before it was ready: %v (run with -server-log FILE)", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("server not ready after 30s (run with -server-log FILE)")
		}
	}
}

func benchRegister(ctx context.Context, hc *http.Client, base, email, ip string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	code, err := benchPost(ctx, hc, base+"/v1/auth/register", ip,
		map[string]string{"email": email, "password": "correct horse battery staple"}, &out)
	if err != nil {
		return "", fmt.Errorf("register %s: %w", email, err)
	}
	if code != http.StatusCreated || out.AccessToken == "" {
		return "", fmt.Errorf("register %s: status %d", email, code)
	}
	return out.AccessToken, nil
}

func benchPost(ctx context.Context, hc *http.Client, url, ip string, body any, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", url, err)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// bystander reads GET /v1/me every pause for d and returns the latency of
// each answer and how many were not 200.
func bystander(ctx context.Context, hc *http.Client, base, access, ip string, d, pause time.Duration) ([]time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		lat  []time.Duration
		bad  int
		tick = time.NewTicker(pause)
	)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("X-Forwarded-For", ip)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return lat, bad, nil
			}
			return lat, bad, fmt.Errorf("bystander: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			bad++
		}
		select {
		case <-ctx.Done():
			return lat, bad, nil
		case <-tick.C:
		}
	}
}

type rssPeak struct {
	mu   sync.Mutex
	peak int64
}

func (r *rssPeak) sample(ctx context.Context, pid int) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if rss, _, err := procMemory(pid); err == nil {
			r.mu.Lock()
			r.peak = max(r.peak, rss)
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *rssPeak) max() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}

// procMemory reads a process's resident set and its high-water mark
// (Linux /proc), in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read server memory: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		}
	}
	return rss, hwm, nil
}

// procCPU is a process's user + system CPU time so far (Linux /proc).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read server CPU time: %w", err)
	}
	// Fields after the command name, which is parenthesized and may hold spaces.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("read server CPU time: short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ, 100 on every Linux this runs on
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

func randomIP() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<24))
	v := n.Int64()
	return fmt.Sprintf("10.%d.%d.%d", v>>16&0xff, v>>8&0xff, v&0xff)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// pct is the p-th percentile (nearest rank) of ds, rounded for reading.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i, 1), len(s)) - 1
	return s[i].Round(100 * time.Microsecond)
}
