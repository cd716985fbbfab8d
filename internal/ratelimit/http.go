package ratelimit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/clientip"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Config holds the service's limits, per minute; 0 turns one off.
type Config struct {
	// IPPerMinute applies to every /v1 request, per client IP.
	IPPerMinute int `env:"RATELIMIT_IP_PER_MINUTE" envDefault:"100"`
	// UserPerMinute applies to requests with a valid access token, per user.
	UserPerMinute int `env:"RATELIMIT_USER_PER_MINUTE" envDefault:"30"`
	// AuthIPPerMinute applies to each of login, register and refresh, per
	// client IP: guessing and account creation from one address.
	AuthIPPerMinute int `env:"RATELIMIT_AUTH_IP_PER_MINUTE" envDefault:"10"`
	// AuthAccountPerMinute applies to login per email and client IP, and to
	// register per email from any address: guessing one account's password
	// from one address. A login limit per email alone would let anyone lock
	// a victim out of their account by failing logins in their name; per
	// email and address, the victim's own address keeps its budget.
	AuthAccountPerMinute int `env:"RATELIMIT_AUTH_ACCOUNT_PER_MINUTE" envDefault:"5"`
	// AuthAccountCeilingPerMinute applies to login per email from any
	// address: the ceiling only a distributed attack reaches (with the
	// defaults, 20 addresses guessing one account at their own limit).
	AuthAccountCeilingPerMinute int `env:"RATELIMIT_AUTH_ACCOUNT_CEILING_PER_MINUTE" envDefault:"100"`
	// RefusalDelay holds a 429 back (at most until its Retry-After, and for
	// at most maxHeld requests at once) before sending it: clients that
	// ignore Retry-After, a flood's loop, then retry at a walking pace
	// instead of spending the server's CPU on thousands of refusals a second.
	RefusalDelay time.Duration `env:"RATELIMIT_REFUSAL_DELAY" envDefault:"1s"`
}

// maxHeld bounds the refusals held back at once: each is a parked goroutine
// and its connection, a few KiB.
const maxHeld = 1024

// DefaultConfig is Config with its envDefault values, for tests and tools.
func DefaultConfig() Config {
	return Config{IPPerMinute: 100, UserPerMinute: 30, AuthIPPerMinute: 10, AuthAccountPerMinute: 5,
		AuthAccountCeilingPerMinute: 100, RefusalDelay: time.Second}
}

// Authenticator returns the user a bearer token belongs to, and false when
// the token does not verify, with ctx carrying what it verified so that the
// request's own authentication need not verify it again. It must be cheap
// (a signature check, no database): it runs before the request's own
// authentication, on every request that carries a token while the per-user
// limit is on. The per-user limit counts only tokens that verify, so nobody
// can spend another user's budget with made-up tokens.
type Authenticator func(ctx context.Context, bearer string) (_ context.Context, user string, ok bool)

// ErrorWriter writes err as the API's error response.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// HTTP applies Config to requests under /v1/ (health, readiness and the spec
// are not limited: load balancers poll them).
type HTTP struct {
	lim      *Limiter
	cfg      Config
	authn    Authenticator
	writeErr ErrorWriter
	held     chan struct{}
	refusals metric.Int64Counter // nil: not measured
}

// NewHTTP returns the middleware; authn may be nil (no per-user limit).
func NewHTTP(lim *Limiter, cfg Config, authn Authenticator, writeErr ErrorWriter) *HTTP {
	return &HTTP{lim: lim, cfg: cfg, authn: authn, writeErr: writeErr, held: make(chan struct{}, maxHeld)}
}

// Measure counts refusals by rule on mp's meter.
func (h *HTTP) Measure(mp metric.MeterProvider) (*HTTP, error) {
	c, err := mp.Meter("github.com/jarvis-core/jarvis").Int64Counter("jarvis.ratelimit.refusals",
		metric.WithDescription("Requests refused (429) by a rate limit, by the limit's rule."))
	if err != nil {
		return nil, fmt.Errorf("rate limit metrics: %w", err)
	}
	h.refusals = c
	return h, nil
}

// ruleAttrs are the rules' attribute sets, built once.
var ruleAttrs = func() map[string]metric.MeasurementOption {
	m := map[string]metric.MeasurementOption{}
	for _, r := range []string{"login.account_ip", "login.ip", "login.account", "register.account", "register.ip",
		"refresh.ip", "user", "ip"} {
		m[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("rule", r)))
	}
	return m
}()

func (h *HTTP) refused(ctx context.Context, rule string) {
	if o, ok := ruleAttrs[rule]; ok && h.refusals != nil {
		h.refusals.Add(ctx, 1, o)
	}
}

// holdBack delays a refusal by up to RefusalDelay (never past its
// Retry-After), when there is room to hold it and the client is still there.
func (h *HTTP) holdBack(r *http.Request, retryAfter time.Duration) {
	d := min(h.cfg.RefusalDelay, retryAfter)
	if d <= 0 {
		return
	}
	select {
	case h.held <- struct{}{}:
	default:
		return
	}
	defer func() { <-h.held }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// Middleware is h for the HTTP layer's chain. It runs after the client IP is
// resolved and after the input checks (a body it peeks at is known to be
// clean JSON by then).
func (h *HTTP) Middleware() api.Middleware {
	return api.Middleware{Name: "ratelimit", Order: 300, Wrap: h.Wrap}
}

// authBodyMax bounds what the per-account limit reads of a login or register
// body: real ones are a few hundred bytes.
const authBodyMax = 16 << 10

type check struct {
	key  string
	lim  Limit
	rule string // bounded: the metric's label, never the key (it names an e-mail or an IP)
}

// Wrap checks the limits that apply to r, strictest first so that a refusal
// by a narrow limit does not also spend the broad ones.
func (h *HTTP) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		ip := "unknown"
		if a := clientip.Of(r); a.IsValid() {
			ip = a.String()
		}
		var checks []check
		if op := authOperation(r); op != "" {
			var emails []string
			if op != "refresh" && (!PerMinute(h.cfg.AuthAccountPerMinute).Off() || !PerMinute(h.cfg.AuthAccountCeilingPerMinute).Off()) {
				var err error
				if emails, err = peekEmails(r); err != nil {
					h.writeErr(w, r, err)
					return
				}
			}
			for _, e := range emails {
				key, rule := op+":account:"+e, op+".account"
				if op == "login" {
					key, rule = "login:account-ip:"+e+":"+ip, "login.account_ip"
				}
				checks = append(checks, check{key, PerMinute(h.cfg.AuthAccountPerMinute), rule})
			}
			checks = append(checks, check{op + ":ip:" + ip, PerMinute(h.cfg.AuthIPPerMinute), op + ".ip"})
			if op == "login" {
				// Last of the sign-in limits: a request another limit refused
				// does not spend the account's ceiling.
				for _, e := range emails {
					checks = append(checks, check{"login:account:" + e, PerMinute(h.cfg.AuthAccountCeilingPerMinute), "login.account"})
				}
			}
		}
		// With the per-user limit off the token is left to the request's
		// own authentication: verifying it here would only repeat that.
		if h.authn != nil && !PerMinute(h.cfg.UserPerMinute).Off() {
			if tok, ok := bearer(r); ok {
				ctx, user, ok := h.authn(r.Context(), tok)
				if ok {
					r = r.WithContext(ctx)
					checks = append(checks, check{"user:" + user, PerMinute(h.cfg.UserPerMinute), "user"})
				}
			}
		}
		checks = append(checks, check{"ip:" + ip, PerMinute(h.cfg.IPPerMinute), "ip"})

		var shown Result
		for _, c := range checks {
			res := h.lim.Allow(r.Context(), c.key, c.lim)
			if !res.Allowed {
				h.refused(r.Context(), c.rule)
				h.holdBack(r, res.RetryAfter)
				res.SetHeaders(w.Header())
				h.writeErr(w, r, fault.RateLimitedf(res.RetryAfter,
					"too many requests; try again in %d s", max(ceilSeconds(res.RetryAfter), 1)))
				return
			}
			if tighter(res, shown) {
				shown = res
			}
		}
		shown.SetHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

// authOperation names the sign-in operations that have limits of their own.
func authOperation(r *http.Request) string {
	if r.Method != http.MethodPost {
		return ""
	}
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/v1/auth/login":
		return "login"
	case "/v1/auth/register":
		return "register"
	case "/v1/auth/refresh":
		return "refresh"
	}
	return ""
}

func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// peekEmails reads the body (bounded), puts it back for the handler, and
// returns a key for every top-level "email" string in it: all of them, so a
// body naming two emails can't be charged to one and checked as the other.
// Keys are hashes: addresses stay out of Redis. A body that is not a JSON
// object yields none and is left for the handler to refuse.
func peekEmails(r *http.Request) ([]string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, authBodyMax+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &fault.Error{Kind: fault.TooLarge, Message: "request body too large", Err: err}
		}
		return nil, fault.InvalidField("body", "could not be read").Wrap(err)
	}
	if len(buf) > authBodyMax {
		return nil, &fault.Error{Kind: fault.TooLarge, Message: fmt.Sprintf("request body too large: sign-in bodies are at most %d bytes", authBodyMax)}
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	dec := json.NewDecoder(bytes.NewReader(buf))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys, nil
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return keys, nil
		}
		var email string
		if name != "email" || json.Unmarshal(v, &email) != nil {
			continue
		}
		sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
		k := hex.EncodeToString(sum[:12])
		if len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
