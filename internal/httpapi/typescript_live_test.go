package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// TestTypeScriptSessionsAndRealtime runs the TypeScript client's Sessions
// and Realtime against two real instances of the service sharing one
// database and one Redis, behind a load balancer the test controls:
//   - src/live.test.ts (Node): refresh ahead of expiry, 20 concurrent
//     requests at expiry → one refresh, a 401 → one refresh and one retry,
//     the socket renewing its auth past several token lifetimes, and a
//     socket whose instance is restarted resuming on the other one with
//     every missed event, in order, once;
//   - src/browser.test.ts: Debian's chromium driven by puppeteer-core,
//     loading a page that bundles the client from an origin of its own
//     (CORS set for it): two tabs refresh together with one request, sign-out
//     reaches the other tab, and the socket authenticates by subprotocol and
//     resumes after the load balancer drops it.
//
// Access tokens live 6 s, so every refresh path runs within the test.
func TestTypeScriptSessionsAndRealtime(t *testing.T) {
	dir, err := filepath.Abs("../../openapi/typescript")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal("the TypeScript client's tools are not installed: `go tool task ts-deps` (the test task runs it)")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Debian's chromium is not installed: `go tool task setup` installs it")
	}
	run := func(env []string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		t.Logf("%s %v:\n%s", name, args, out)
	}
	run(nil, "npx", "tsc", "-p", ".")
	run(nil, "npm", "run", "--silent", "bundle:page")

	page := httptest.NewServer(pageHandler(filepath.Join(dir, "dist", "page")))
	t.Cleanup(page.Close)
	pageURL, _ := url.Parse(page.URL)

	lb := newBalancer()
	front := httptest.NewUnstartedServer(lb)
	front.Config.ConnState = lb.track
	front.Start()
	t.Cleanup(front.Close)

	prefix := redisPrefix(t)
	d := dbtest.New(t)
	env := apptest.Env(map[string]string{
		"REDIS_URL": testRedisURL(), "REALTIME_REDIS_PREFIX": prefix,
		"JWT_ACCESS_EXPIRY":    "6s",
		"CORS_ALLOWED_ORIGINS": page.URL,
		"REALTIME_ORIGINS":     pageURL.Host,
		// Every test of the suite comes from 127.0.0.1: limits of their own.
		"RATELIMIT_IP_PER_MINUTE": "100000", "RATELIMIT_USER_PER_MINUTE": "100000",
		"RATELIMIT_AUTH_IP_PER_MINUTE": "100000", "RATELIMIT_AUTH_ACCOUNT_PER_MINUTE": "100000",
	})
	start := func() *apptest.Server { return apptest.New(t, apptest.Database(d), env) }
	var mu sync.Mutex
	instances := map[string]*apptest.Server{"a": start(), "b": start()}
	lb.set("a", instances["a"].URL)
	lb.set("b", instances["b"].URL)
	lb.routeTo("a")

	// The Node side drives the balancer and the instances through this.
	control := http.NewServeMux()
	control.HandleFunc("POST /route/{to}", func(w http.ResponseWriter, r *http.Request) {
		lb.routeTo(r.PathValue("to"))
	})
	control.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, lb.drop())
	})
	control.HandleFunc("POST /restart/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		mu.Lock()
		defer mu.Unlock()
		s, ok := instances[name]
		if !ok {
			http.Error(w, "no such instance", http.StatusNotFound)
			return
		}
		// Stopped as in production (1001 after draining), then a new
		// process takes its place on a new port.
		s.Stop()
		instances[name] = start()
		lb.set(name, instances[name].URL)
		fmt.Fprint(w, instances[name].URL)
	})
	control.HandleFunc("GET /instance/{name}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := instances[r.PathValue("name")]; ok {
			fmt.Fprint(w, s.URL)
			return
		}
		http.Error(w, "no such instance", http.StatusNotFound)
	})
	control.HandleFunc("GET /refreshes", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, lb.refreshes.Load())
	})
	control.HandleFunc("GET /handshakes", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(lb.handshakeLog())
	})
	ctl := httptest.NewServer(control)
	t.Cleanup(ctl.Close)

	run([]string{
		"JARVIS_URL=" + front.URL, "JARVIS_CONTROL=" + ctl.URL, "JARVIS_PAGE=" + page.URL,
		"CHROMIUM=" + chromium,
	}, "node", "--test", "--test-concurrency=1", "dist/live.test.js", "dist/browser.test.js")
}

// pageHandler serves the bundled test page (dist/page, built by
// `npm run bundle:page`) from an origin other than the API's.
func pageHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}

// redisPrefix is a key prefix of the test's own in the test Redis, deleted at the end.
func redisPrefix(t *testing.T) string {
	t.Helper()
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	prefix := "jarvis:test:ts:" + hex.EncodeToString(rb[:]) + ":"
	opts, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return prefix
}

func testRedisURL() string {
	if u := os.Getenv("JARVIS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// balancer is the load balancer in front of the instances: it sends every
// new request or socket to the instance routed to ("none" refuses with
// 502), counts refresh requests, records WebSocket handshakes, and can
// drop every connection at once (a network failure: the client sees 1006).
type balancer struct {
	mu         sync.Mutex
	backends   map[string]*url.URL
	route      string
	conns      map[net.Conn]struct{}
	handshakes []handshake
	refreshes  atomic.Int64
}

// handshake is what the balancer saw of one WebSocket handshake.
type handshake struct {
	URL           string `json:"url"`
	Authorization bool   `json:"authorization"`
	Protocols     string `json:"protocols"`
}

func newBalancer() *balancer {
	return &balancer{backends: map[string]*url.URL{}, conns: map[net.Conn]struct{}{}}
}

func (b *balancer) set(name, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	b.mu.Lock()
	b.backends[name] = u
	b.mu.Unlock()
}

func (b *balancer) routeTo(name string) {
	b.mu.Lock()
	b.route = name
	b.mu.Unlock()
}

func (b *balancer) track(c net.Conn, s http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch s {
	case http.StateNew:
		b.conns[c] = struct{}{}
	case http.StateClosed:
		delete(b.conns, c)
	}
}

func (b *balancer) drop() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.conns)
	for c := range b.conns {
		_ = c.Close()
		delete(b.conns, c)
	}
	return n
}

func (b *balancer) handshakeLog() []handshake {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]handshake{}, b.handshakes...)
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/auth/refresh" {
		b.refreshes.Add(1)
	}
	b.mu.Lock()
	target := b.backends[b.route]
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// Only whether a token was there, never the token.
		protos := []string{}
		for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
			p = strings.TrimSpace(p)
			if strings.HasPrefix(p, "bearer.") {
				p = "bearer.<token>"
			}
			protos = append(protos, p)
		}
		b.handshakes = append(b.handshakes, handshake{
			URL: r.URL.String(), Authorization: r.Header.Get("Authorization") != "", Protocols: strings.Join(protos, ","),
		})
	}
	b.mu.Unlock()
	if target == nil {
		http.Error(w, "no instance", http.StatusBadGateway)
		return
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the instance sees the address the client used
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "instance unreachable", http.StatusBadGateway)
		},
	}
	p.ServeHTTP(w, r)
}
