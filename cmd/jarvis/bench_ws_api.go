package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// The API mode of `jarvis bench ws` measures what a user sees: two real
// `jarvis serve` processes on one database and one Redis (rate limits
// off), N sockets on instance A (each subscribed to its user's run, through
// the public GET /v1/ws; a user has one run per socket, and each socket
// subscribes to its own), and this process publishing agent.token events
// through the public POST /v1/runs/{id}/events on instance B, at a fixed
// rate, round robin over the sockets' runs. Every accepted event's seq comes
// back in the 202; each socket must receive exactly its run's accepted
// seqs, in order: what is missing is lost, what comes twice is duplicated, a seq
// below the previous one is reordered. Latency is publish (just before the
// request) → receive, from the send time carried in the token's text.

type benchWSAPIResult struct {
	accepted, refused           int64
	publishedPerSec             float64
	deliveries                  int64
	p50, p99, max               time.Duration
	lost, duplicated, reordered int64
	rssBase, rssConnected       int64
	rssAfter                    int64
	emitP50, emitP99            time.Duration
	// cpuA, cpuB: each instance's CPU time (user and system) from the first
	// publish until the deliveries are in, per event accepted: on a shared
	// machine the steadier figure beside the latency tail.
	cpuA, cpuB time.Duration
	tail       tailSpread
	// steal is the share of the machine's CPU time the hypervisor gave to
	// other guests while the load ran (/proc/stat): on a shared VM the
	// latency tail follows it more than any change to the service.
	steal float64
}

// tailSpread says whether the events slower than p99 are spread over the
// run (each its own bad luck) or bunched in a few moments (a stall of some
// process or of the machine, which no per-event cost explains).
type tailSpread struct {
	windows, slowWindows int // 100 ms windows of the run; those holding a slow event
	inWorst10            int // slow events in the ten windows holding the most
	slow                 int
}

func (t tailSpread) String() string {
	if t.slow == 0 {
		return "-"
	}
	return fmt.Sprintf("%d in %d of %d windows, %.0f%% in the worst 10", t.slow, t.slowWindows, t.windows,
		100*float64(t.inWorst10)/float64(t.slow))
}

func tailWindows(socks []*apiSocket, p99 time.Duration, start time.Time) tailSpread {
	const window = 100 * time.Millisecond
	counts := map[int64]int{}
	var t tailSpread
	var last int64
	for _, s := range socks {
		for i, l := range s.lat {
			w := (s.sent[i] - start.UnixNano()) / int64(window)
			last = max(last, w)
			if l > p99 {
				counts[w]++
				t.slow++
			}
		}
	}
	t.windows, t.slowWindows = int(last)+1, len(counts)
	byCount := slices.Sorted(maps.Values(counts))
	slices.Reverse(byCount)
	for _, n := range byCount[:min(10, len(byCount))] {
		t.inWorst10 += n
	}
	return t
}

type apiUser struct {
	token string
	runs  []uuid.UUID
}

// apiSocket is one socket, subscribed to a run of its own: each event
// published goes to exactly one socket, as in the comparison.
type apiSocket struct {
	user *apiUser
	run  uuid.UUID
	seqs []uint64 // accepted for run, as the 202s said (one publisher at a time per socket, see jobs)
	mu   sync.Mutex
	seen map[uint64]int
	last uint64
	lat  []time.Duration
	sent []int64 // each received event's send time (Unix ns), beside lat
	reo  int64
}

func benchWSAPIRun(ctx context.Context, bin string, sockets, users, rate, clients, batch int, d time.Duration, prefix string) (benchWSAPIResult, error) {
	var res benchWSAPIResult
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return res, err
		}
	}
	setup, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	db, drop, err := dbtest.Create(setup, "bench_ws")
	if err != nil {
		return res, fmt.Errorf("bench database: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = drop(ctx)
	}()
	env := map[string]string{
		"REALTIME_REDIS_PREFIX":         prefix,
		"REALTIME_MAX_SOCKETS_PER_USER": strconv.Itoa(sockets/users + 1),
		"RUNS_MAX_ACTIVE":               strconv.Itoa(sockets/users + 1), // a run per socket, all open at once
		"LOG_LEVEL":                     "warn",                          // a request log line per emit is the service's cost, but not at 10k/s on a shared machine
	}
	if v := os.Getenv("JARVIS_BENCH_WS_LOG_LEVEL"); v != "" {
		env["LOG_LEVEL"] = v
	}
	a, err := startBenchService(ctx, bin, db.AppURL, env)
	if err != nil {
		return res, fmt.Errorf("instance A: %w", err)
	}
	defer a.stop()
	b, err := startBenchService(ctx, bin, db.AppURL, env)
	if err != nil {
		return res, fmt.Errorf("instance B: %w", err)
	}
	defer b.stop()

	// Users, each with one run, registered through the API on B, so that
	// password hashing does not weigh on the sockets node's RSS.
	us := make([]*apiUser, users)
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		fail atomic.Value
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= users {
					return
				}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				var err error
				for try := 0; ; try++ {
					err = postJSON(setup, b.url+"/v1/auth/register", "", map[string]string{
						"email": fmt.Sprintf("ws-%d-%s@example.com", i, prefix[len(prefix)-9:len(prefix)-1]), "password": "correct horse battery staple",
					}, &tok)
					// Password hashing is bounded per instance (503 past it).
					if err == nil || !strings.Contains(err.Error(), "503") || try == 50 {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				u := &apiUser{token: tok.AccessToken}
				for j := 0; err == nil && j < (sockets+users-1-i)/users; j++ { // a run per socket of the user
					var run struct {
						ID uuid.UUID `json:"id"`
					}
					err = postJSON(setup, b.url+"/v1/runs", tok.AccessToken, map[string]any{}, &run)
					u.runs = append(u.runs, run.ID)
				}
				if err != nil {
					fail.Store(fmt.Errorf("user %d: %w", i, err))
					return
				}
				us[i] = u
			}
		})
	}
	wg.Wait()
	if err, _ := fail.Load().(error); err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond)
	res.rssBase = processRSS(a.cmd.Process.Pid)

	// Sockets on A, round robin over the users, each subscribed to its
	// user's run and live at once (resume from "connected").
	socks := make([]*apiSocket, sockets)
	conns := make([]*websocket.Conn, sockets)
	wsURL := "ws" + strings.TrimPrefix(a.url, "http") + "/v1/ws"
	dialer := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	next.Store(0)
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= sockets {
					return
				}
				u, run := us[i%users], us[i%users].runs[i/users]
				if err := func() error {
					dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					ws, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{HTTPClient: dialer, HTTPHeader: http.Header{"Authorization": {"Bearer " + u.token}}})
					if err != nil {
						return err
					}
					conns[i] = ws
					var hello struct {
						Epoch string `json:"epoch"`
						Seq   uint64 `json:"seq"`
					}
					if err := wsReadJSON(dctx, ws, &hello); err != nil {
						return err
					}
					for _, m := range []map[string]any{{"type": "subscribe", "run_id": run}, {"type": "resume", "epoch": hello.Epoch, "seq": hello.Seq}} {
						b, _ := json.Marshal(m)
						if err := ws.Write(dctx, websocket.MessageText, b); err != nil {
							return err
						}
					}
					for _, want := range []string{"subscribed", "resumed"} {
						var r struct {
							Type string `json:"type"`
						}
						if err := wsReadJSON(dctx, ws, &r); err != nil {
							return err
						}
						if r.Type != want {
							return fmt.Errorf("got %q, want %q", r.Type, want)
						}
					}
					return nil
				}(); err != nil {
					fail.Store(fmt.Errorf("socket %d: %w", i, err))
					return
				}
				socks[i] = &apiSocket{user: u, run: run, seen: map[uint64]int{}}
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
	if err, _ := fail.Load().(error); err != nil {
		return res, err
	}
	var (
		readers  sync.WaitGroup
		received atomic.Int64
	)
	for i, c := range conns {
		readers.Go(func() { apiReadLoop(c, socks[i], &received) })
	}
	time.Sleep(time.Second)
	res.rssConnected = processRSS(a.cmd.Process.Pid)

	// Publish through B's API.
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	jobs := make(chan *apiSocket, rate)
	var (
		accepted, refused atomic.Int64
		emitLat           = make([][]time.Duration, clients)
	)
	for w := range clients {
		wg.Go(func() {
			for sk := range jobs {
				sent := time.Now()
				event := `{"type":"agent.token","data":{"text":"` + strconv.FormatInt(sent.UnixNano(), 10) + `"}}`
				body, path := event, "/events"
				if batch > 1 { // batch events of one run, as a buffering worker sends them
					body, path = `{"events":[`+strings.Repeat(event+",", batch-1)+event+`]}`, "/event-batches"
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/v1/runs/"+sk.run.String()+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+sk.user.token)
				resp, err := hc.Do(req)
				if err != nil {
					refused.Add(1)
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				emitLat[w] = append(emitLat[w], time.Since(sent))
				type seqOnly struct {
					Seq uint64 `json:"seq"`
				}
				var (
					one  seqOnly
					many struct {
						Events []seqOnly `json:"events"`
					}
					err2 error
				)
				if batch > 1 {
					err2 = json.Unmarshal(raw, &many)
				} else {
					err2 = json.Unmarshal(raw, &one)
					many.Events = []seqOnly{one}
				}
				if resp.StatusCode != http.StatusAccepted || err2 != nil {
					if refused.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "emit refused: %s %s\n", resp.Status, bytes.TrimSpace(raw))
					}
					continue
				}
				sk.mu.Lock()
				for _, e := range many.Events {
					sk.seqs = append(sk.seqs, e.Seq)
				}
				sk.mu.Unlock()
				accepted.Add(int64(len(many.Events)))
			}
		})
	}
	steal0, total0 := machineSteal()
	cpuA0, errA := procCPU(a.cmd.Process.Pid)
	cpuB0, errB := procCPU(b.cmd.Process.Pid)
	const tick = time.Millisecond
	per := float64(rate) / float64(max(batch, 1)) * tick.Seconds() // requests per tick
	t := time.NewTicker(tick)
	start := time.Now()
	sent, i := 0, 0
loop:
	for now := range t.C {
		if now.Sub(start) >= d {
			break
		}
		due := int(float64(now.Sub(start)/tick+1) * per)
		for ; sent < due; sent++ {
			select {
			case jobs <- socks[i%sockets]:
				i++
			case <-ctx.Done():
				break loop
			}
		}
	}
	t.Stop()
	close(jobs)
	wg.Wait()
	published := time.Since(start)
	res.accepted, res.refused = accepted.Load(), refused.Load()
	res.publishedPerSec = float64(res.accepted) / published.Seconds()

	// Wait for the deliveries (sockets per user × accepted of that user).
	var want int64
	for _, s := range socks {
		want += int64(len(s.seqs))
	}
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if steal1, total1 := machineSteal(); total1 > total0 {
		res.steal = float64(steal1-steal0) / float64(total1-total0)
	}
	cpuA1, errA1 := procCPU(a.cmd.Process.Pid)
	cpuB1, errB1 := procCPU(b.cmd.Process.Pid)
	if err := errors.Join(errA, errB, errA1, errB1); err == nil && res.accepted > 0 {
		res.cpuA = (cpuA1 - cpuA0) / time.Duration(res.accepted)
		res.cpuB = (cpuB1 - cpuB0) / time.Duration(res.accepted)
	}
	time.Sleep(200 * time.Millisecond) // late duplicates, if any
	res.rssAfter = processRSS(a.cmd.Process.Pid)
	for _, c := range conns {
		_ = c.CloseNow()
	}
	readers.Wait()

	var all []time.Duration
	for _, s := range socks {
		for _, q := range s.seqs {
			switch n := s.seen[q]; {
			case n == 0:
				res.lost++
			case n > 1:
				res.duplicated += int64(n - 1)
			}
		}
		res.reordered += s.reo
		res.deliveries += int64(len(s.lat))
		all = append(all, s.lat...)
	}
	sortDurations(all)
	if len(all) > 0 {
		res.p50, res.p99, res.max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
		res.tail = tailWindows(socks, res.p99, start)
	}
	var el []time.Duration
	for _, l := range emitLat {
		el = append(el, l...)
	}
	sortDurations(el)
	if len(el) > 0 {
		res.emitP50, res.emitP99 = el[len(el)/2], el[len(el)*99/100]
	}
	return res, nil
}

func wsReadJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// apiReadLoop records what socket s receives: seqs (for loss, duplicates
// and order) and publish → receive latency.
func apiReadLoop(c *websocket.Conn, s *apiSocket, received *atomic.Int64) {
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		var m struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
			Data struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &m) != nil || m.Type != "agent.token" {
			continue
		}
		sent, err := strconv.ParseInt(m.Data.Text, 10, 64)
		if err != nil {
			continue
		}
		if m.Seq <= s.last {
			s.reo++
		}
		s.last = max(s.last, m.Seq)
		s.seen[m.Seq]++
		s.lat = append(s.lat, time.Duration(now-sent))
		s.sent = append(s.sent, sent)
		received.Add(1)
	}
}

// machineSteal is the machine's steal time and total CPU time so far, in
// clock ticks (the first line of /proc/stat; zeros where it cannot be read).
func machineSteal() (steal, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user … steal; guest time is already in user
			total += n
		}
		if i == 7 {
			steal = n
		}
	}
	return steal, total
}

// processRSS is pid's resident set size in bytes (Linux).
func processRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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
