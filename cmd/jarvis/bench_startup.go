package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func init() {
	registerBench("startup", "jarvis serve: time from exec to /readyz 200, and RSS once idle", benchStartup)
}

const startupUsage = `usage: jarvis bench startup [flags]

Starts jarvis serve (-service-bin, default this binary) -runs times, each in a
process of its own configured as in production (Postgres on a throwaway
database, Redis), and reports the time from exec to the first 200 of
/readyz (polled every millisecond) and VmRSS from /proc after -idle with no
requests, with its anonymous part (RssAnon: heap and stacks; the rest is
pages of the binary, shared and reclaimable).

flags:
`

func benchStartup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench startup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runs := fs.Int("runs", 15, "starts to measure")
	idle := fs.Duration("idle", 2*time.Second, "idle time after ready before RSS is read")
	serviceBin := fs.String("service-bin", "", "jarvis binary whose serve is measured (default: this one)")
	if err := fs.Parse(args); err != nil {
		var b strings.Builder
		b.WriteString(startupUsage)
		fs.SetOutput(&b)
		fs.PrintDefaults()
		return usageError(b.String())
	}
	bin := *serviceBin
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
	}
	bin, err := freshCopy(bin)
	if err != nil {
		return err
	}
	defer os.Remove(bin)
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d, drop, err := dbtest.Create(setupCtx, "bench_startup")
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "jarvis bench startup:", err)
		}
	}()
	var ready []time.Duration
	var rss, anon []float64
	client := &http.Client{Timeout: time.Second}
	for i := range *runs {
		t, mem, err := startOnce(ctx, client, bin, d.AppURL, *idle)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(stdout, "run %2d: ready in %6.1f ms, idle RSS %5.1f MB (anonymous %4.1f MB)\n", i+1, float64(t.Microseconds())/1000, mem.rss, mem.anon)
		ready = append(ready, t)
		rss = append(rss, mem.rss)
		anon = append(anon, mem.anon)
	}
	slices.Sort(ready)
	ms := make([]float64, len(ready))
	for i, t := range ready {
		ms[i] = float64(t.Microseconds()) / 1000
	}
	fmt.Fprintf(stdout, "\nstart to ready: median %.1f ms (min %.1f, max %.1f); idle RSS: median %.1f MB (min %.1f, max %.1f), of which anonymous %.1f MB\n",
		median(ms), ms[0], ms[len(ms)-1], median(rss), slices.Min(rss), slices.Max(rss), median(anon))
	fmt.Fprintln(stdout, "(the rest of RSS is the binary's pages the process touched: shared with other processes of the binary, and reclaimable)")
	return nil
}

// startOnce starts serve, times it to the first 200 of /readyz, waits idle,
// reads its resident set, and stops it.
func startOnce(ctx context.Context, client *http.Client, bin, dbURL string, idle time.Duration) (time.Duration, resident, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return 0, resident{}, err
	}
	env := []string{
		"APP_ENV=production", "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "LOG_LEVEL=info",
		"DATABASE_URL=" + dbURL, "REDIS_URL=redis://127.0.0.1:6379/0",
		"JWT_SECRET=" + benchJWTSecret, "JWT_ISSUER=" + benchJWTIssuer, "JWT_AUDIENCE=" + benchJWTAudience,
		"SECRETS_MASTER_KEY=" + strings.Repeat("5a", 32), "SHUTDOWN_TIMEOUT=5s",
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	start := time.Now()
	p, err := startProcess(ctx, bin, []string{"serve"}, env, io.Discard, io.Discard)
	if err != nil {
		return 0, resident{}, err
	}
	defer p.stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-p.done:
			return 0, resident{}, fmt.Errorf("service stopped while starting: %v", err)
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 15*time.Second {
			return 0, resident{}, errors.New("service not ready after 15s")
		}
	}
	took := time.Since(start)
	select {
	case <-time.After(idle):
	case <-ctx.Done():
		return 0, resident{}, ctx.Err()
	}
	mem, err := residentSet(p.cmd.Process.Pid)
	return took, mem, err
}

// resident is a process's resident set in MB: all of it (VmRSS), and its
// anonymous part (RssAnon: heap, stacks), which is the process's own.
type resident struct{ rss, anon float64 }

// residentSet reads VmRSS and RssAnon from /proc/PID/status.
func residentSet(pid int) (resident, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return resident{}, err
	}
	var r resident
	for _, f := range []struct {
		key string
		mb  *float64
	}{{"VmRSS:", &r.rss}, {"RssAnon:", &r.anon}} {
		found := false
		for l := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(l, f.key); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				if err != nil {
					return resident{}, fmt.Errorf("%s %w", f.key, err)
				}
				*f.mb, found = kb/1024, true
				break
			}
		}
		if !found {
			return resident{}, fmt.Errorf("no %s in /proc status", f.key)
		}
	}
	return r, nil
}

// freshCopy copies bin to a new temporary file and returns its path. The
// file-backed part of RSS depends on how the page cache holds the binary's
// file, not only on which pages the process touches: a binary just written
// by the Go linker idled at 45 MB where a copy of the same bytes idled at
// 32 MB (fault-around maps whole large folios). Each measurement runs a
// copy, so that builds compare on the same footing.
func freshCopy(bin string) (string, error) {
	src, err := os.Open(bin)
	if err != nil {
		return "", fmt.Errorf("copy the service binary: %w", err)
	}
	defer src.Close()
	dst, err := os.CreateTemp("", "jarvis-startup-*")
	if err != nil {
		return "", fmt.Errorf("copy the service binary: %w", err)
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(dst.Name(), 0o755)
	}
	if err != nil {
		os.Remove(dst.Name())
		return "", fmt.Errorf("copy the service binary: %w", err)
	}
	return dst.Name(), nil
}
