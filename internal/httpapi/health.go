package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// Check is one dependency readiness looks at. Ping returns nil when the
// dependency answers; Optional dependencies that are not configured report
// "disabled" and do not fail readiness.
type Check struct {
	Name     string
	Ping     func(context.Context) error
	Disabled bool
	// Optional dependencies the API serves without (Redis: limits and
	// fan-out fall back in process): down, they make the instance
	// "degraded" but still ready. Failing readiness for them would take
	// every instance out of the load balancer at once while the API works.
	Optional bool
	// Group names checks that run one after the other, not in parallel:
	// those on one connection pool, so that a probe takes one connection
	// (at start, a second would be dialled just for the probe).
	Group string
}

type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// healthz answers as long as the process serves HTTP.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz checks every dependency in parallel, with a short deadline, and says
// which one is down: 503 "unavailable" when a required one is, 200
// "degraded" when only optional ones are. Checks of one Group run one after
// the other. Errors are not echoed: they can carry hosts and users.
func readyz(checks []Check) http.HandlerFunc {
	var groups [][]Check
	at := map[string]int{}
	for _, c := range checks {
		if i, ok := at[c.Group]; ok && c.Group != "" {
			groups[i] = append(groups[i], c)
			continue
		}
		at[c.Group] = len(groups)
		groups = append(groups, []Check{c})
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		res := readyResponse{Status: "ok", Checks: make(map[string]string, len(checks))}
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		record := func(c Check, state string) {
			mu.Lock()
			defer mu.Unlock()
			res.Checks[c.Name] = state
			switch {
			case state == "ok" || state == "disabled":
			case c.Optional:
				if res.Status == "ok" {
					res.Status = "degraded"
				}
			default:
				res.Status = "unavailable"
			}
		}
		for _, g := range groups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range g {
					if c.Disabled {
						record(c, "disabled")
						continue
					}
					switch err := c.Ping(ctx); {
					case errors.Is(err, pgmigrate.ErrBehind):
						record(c, "behind")
					case err != nil:
						record(c, "down")
					default:
						record(c, "ok")
					}
				}
			}()
		}
		wg.Wait()
		code := http.StatusOK
		if res.Status == "unavailable" {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, res)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
