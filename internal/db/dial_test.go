package db_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// Dial hands back the handle at once and the first connection's outcome
// later: nil for a database that answers, Open's error (no password) for
// one that does not, and Open waits for that answer.
func TestDialReportsTheFirstConnection(t *testing.T) {
	t.Parallel()
	d, wait, err := db.Dial(dbtest.New(t).AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := wait(context.Background()); err != nil {
		t.Fatalf("wait on a reachable database: %v", err)
	}
	if n := d.Pool.Stat().TotalConns(); n != 1 {
		t.Fatalf("after wait the pool holds %d connections, want the dialled one", n)
	}

	// A port nothing listens on (taken, then released).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "postgres://jarvis:s3cret-pw@" + addr + "/nowhere?sslmode=disable"
	bad, wait, err := db.Dial(url)
	if err != nil {
		t.Fatalf("Dial refused before dialling: %v", err)
	}
	defer bad.Close()
	err = wait(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect to jarvis@127.0.0.1/nowhere") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("wait on an unreachable database = %v; want a connect error naming user, host and database, not the password", err)
	}
	if again := wait(context.Background()); again == nil || again.Error() != err.Error() {
		t.Fatalf("a second wait = %v, want the first's %v", again, err)
	}
	if _, err := db.Open(context.Background(), url); err == nil {
		t.Fatal("Open of an unreachable database succeeded")
	}
}

// Close ends a dial still under way (a listener that accepts and never
// answers): wait returns at once rather than after the dial's 5 s.
func TestCloseEndsADialUnderWay(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	d, wait, err := db.Dial("postgres://jarvis@" + ln.Addr().String() + "/silent?sslmode=disable&connect_timeout=30")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.Close()
	if err := wait(context.Background()); err == nil {
		t.Fatal("wait after Close reported a connection")
	}
	if took := time.Since(start); took > 4*time.Second { // the dial alone would take 5 s
		t.Fatalf("wait returned %s after Close", took)
	}
}
