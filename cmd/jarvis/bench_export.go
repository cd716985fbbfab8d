package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func init() {
	registerBench("export", "GET /v1/me/export of a user with many memories: the service's RSS while it streams", benchExport)
}

const exportUsage = `usage: jarvis bench export [flags]

Starts the real service (jarvis serve, another process, rate limits off) on
a throwaway database, registers one user over HTTP, loads -memories memories
for that user straight into the database as the owner role (a fixture: one
INSERT ... SELECT generate_series, the HNSW index dropped first since the
export never uses it and building it would dominate the run), then
downloads GET /v1/me/export over HTTP as the user, reading it as fast as it
comes, while sampling the service's VmRSS from /proc every -sample.
Baseline: the same rows rendered by hand, one COPY (SELECT to_jsonb(...))
TO STDOUT over pgx in this process.

flags:
`

func benchExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	memories := fs.Int("memories", 100_000, "memories of the exporting user")
	contentBytes := fs.Int("content", 400, "bytes of content per memory")
	sample := fs.Duration("sample", 10*time.Millisecond, "RSS sampling interval")
	if err := fs.Parse(args); err != nil {
		var b strings.Builder
		b.WriteString(exportUsage)
		fs.SetOutput(&b)
		fs.PrintDefaults()
		return usageError(b.String())
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	d, drop, err := dbtest.Create(setupCtx, "bench_export")
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "jarvis bench export:", err)
		}
	}()
	svc, err := startBenchService(ctx, bin, d.AppURL)
	if err != nil {
		return err
	}
	defer svc.stop()

	// One user, registered as a client would.
	resp, err := http.Post(svc.url+"/v1/auth/register", "application/json",
		strings.NewReader(`{"email":"export-bench@example.com","password":"export bench password 1"}`))
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		UserID      string `json:"user_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		return fmt.Errorf("register: %s: %v", resp.Status, err)
	}

	owner, err := pgx.Connect(setupCtx, d.OwnerURL)
	if err != nil {
		return err
	}
	defer owner.Close(context.Background())
	loadStart := time.Now()
	content := strings.Repeat("x", max(*contentBytes-16, 1))
	stmts := []string{
		`DROP INDEX IF EXISTS memory_embedding`,
		// A constant unit vector: the export leaves embeddings out unless
		// asked, and it compresses in TOAST, so the fixture stays small.
		fmt.Sprintf(`INSERT INTO memories (id, created_at, updated_at, user_id, content, embedding, embedding_model, metadata)
		 SELECT gen_random_uuid(), now(), now(), $1::uuid, 'memory ' || g || ' %s',
		        array_fill(0.0255::real, ARRAY[1536])::vector, 'bench', jsonb_build_object('n', g)
		 FROM generate_series(1, %d) g`, content, *memories),
		`ANALYZE memories`,
	}
	for i, s := range stmts {
		var err error
		if i == 1 {
			_, err = owner.Exec(setupCtx, s, tok.UserID)
		} else {
			_, err = owner.Exec(setupCtx, s)
		}
		if err != nil {
			return fmt.Errorf("load memories: %w", err)
		}
	}
	fmt.Fprintf(stdout, "loaded %d memories of %d bytes in %s\n", *memories, *contentBytes, time.Since(loadStart).Round(time.Millisecond))

	pid := svc.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond) // let the service settle after start-up
	idle := rssKiB(pid)

	// The export, sampled.
	var (
		mu   sync.Mutex
		peak = idle
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(*sample)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := rssKiB(pid); r > 0 {
					mu.Lock()
					peak = max(peak, r)
					mu.Unlock()
				}
			}
		}
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, svc.url+"/v1/me/export", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	start := time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		close(stop)
		return fmt.Errorf("export: %w", err)
	}
	var bytes int64
	var lines, rows int
	var last string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		bytes += int64(len(sc.Bytes())) + 1
		lines++
		if strings.HasPrefix(sc.Text(), `{"type":"row","table":"memories"`) {
			rows++
		}
		if len(sc.Bytes()) < 4096 {
			last = sc.Text()
		}
	}
	took := time.Since(start)
	resp.Body.Close()
	close(stop)
	<-sampled
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read export: %w", err)
	}
	if resp.StatusCode != http.StatusOK || rows != *memories || !strings.HasPrefix(last, `{"type":"end"`) {
		return fmt.Errorf("export: %s, %d memory rows of %d, last line %.80q", resp.Status, rows, *memories, last)
	}

	// Baseline: the same memories rendered by Postgres, streamed by hand.
	bstart := time.Now()
	tag, err := owner.PgConn().CopyTo(ctx, io.Discard, fmt.Sprintf(
		`COPY (SELECT to_jsonb(r)::text FROM (SELECT id, created_at, updated_at, content, embedding_model, metadata, redactions, user_id
		 FROM memories WHERE user_id = '%s' ORDER BY id) r) TO STDOUT`, tok.UserID))
	if err != nil {
		return fmt.Errorf("baseline copy: %w", err)
	}
	btook := time.Since(bstart)

	load, _ := os.ReadFile("/proc/loadavg")
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	fmt.Fprintf(stdout, "service export: %d lines, %.1f MB in %s (%.1f MB/s)\n", lines, float64(bytes)/(1<<20),
		took.Round(time.Millisecond), float64(bytes)/(1<<20)/took.Seconds())
	fmt.Fprintf(stdout, "service RSS: idle %.1f MB, peak %.1f MB during the export, growth %.1f MB (limit 100 MB)\n",
		mb(idle), mb(peak), mb(peak-idle))
	fmt.Fprintf(stdout, "baseline COPY of the memories: %d rows in %s; service/baseline time %.2fx\n",
		tag.RowsAffected(), btook.Round(time.Millisecond), took.Seconds()/btook.Seconds())
	fmt.Fprintf(stdout, "load average: %s", load)
	if peak-idle > 100*1024 {
		return fmt.Errorf("the service grew by %.1f MB during the export, over 100 MB", mb(peak-idle))
	}
	return nil
}

// rssKiB is a process's resident set in KiB, 0 when unreadable.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb) //nolint:errcheck // 0 on a malformed line
			return kb
		}
	}
	return 0
}
