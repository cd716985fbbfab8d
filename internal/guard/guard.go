// Package guard puts the service's guard rails on the HTTP edge: it wires
// the client address behind trusted proxies (internal/clientip), the
// browser policy (internal/browserpolicy), the input checks
// (internal/textguard) and the rate limits (internal/ratelimit) into the
// middleware chain, as api.Middlewares, in this order:
//
//	40  deadlines      how long a client may take to send its body, and we to answer
//	50  clientip       the client's address, for everything after it
//	100 browserpolicy  security headers, no-store, CORS (refusals carry them too)
//	200 textguard      UTF-8, NUL, surrogates, depth, sizes: 400/413 before decoding
//	300 ratelimit      per IP, per user, sign-in per IP and per account: 429
//
// It exists apart from those packages so that they stay free of the HTTP
// layer (the auth module uses textguard, and httpapi imports auth).
package guard

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/browserpolicy"
	"github.com/jarvis-core/jarvis/internal/clientip"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/httpapi"
	"github.com/jarvis-core/jarvis/internal/ratelimit"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/internal/textguard"
)

// Config is what the guard rails read from the environment besides the
// limits (ratelimit.Config) and the CORS origins (browserpolicy.Config).
type Config struct {
	// TrustedProxies are the load balancers / reverse proxies (addresses or
	// CIDR prefixes) whose X-Forwarded-For / Forwarded headers are believed.
	// None by default: the client is the connection's peer.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`
	// BodyTimeout is how long a client may take to send a request body
	// (the header has its own, the server's ReadHeaderTimeout): a body
	// trickled a byte at a time no longer holds a connection for ever.
	BodyTimeout time.Duration `env:"HTTP_READ_BODY_TIMEOUT" envDefault:"30s"`
	// WriteTimeout bounds a response's writing from the request's arrival.
	// WebSockets are exempt: hijacked connections drop their deadlines.
	WriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"60s"`
}

// Module provides the middleware. Tests replace Config with fx.Replace or
// fx.Decorate.
var Module = fx.Module("guard",
	config.Provide[Config](),
	config.Provide[ratelimit.Config](),
	config.Provide[browserpolicy.Config](),
	fx.Provide(NewLimiter),
	api.Middlewares(Deadlines),
	api.Middlewares(ClientIP),
	api.Middlewares(BrowserPolicy),
	api.Middlewares(TextGuard),
	api.Middlewares(RateLimit),
)

// Deadlines sets the connection's read deadline for the body and its write
// deadline for the response, per request (so they can differ from the
// server-wide header and idle timeouts, and tests can shorten them).
func Deadlines(cfg Config) api.Middleware {
	return api.Middleware{Name: "deadlines", Order: 40, Wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			now := time.Now()
			if cfg.BodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
				if rc.SetReadDeadline(now.Add(cfg.BodyTimeout)) == nil {
					// Once the body is in, the deadline goes: left in place it
					// would fire in the server's background read and cancel a
					// handler that merely takes longer than the body did.
					r.Body = &untilEOF{ReadCloser: r.Body, done: func() { _ = rc.SetReadDeadline(time.Time{}) }}
				}
			}
			if cfg.WriteTimeout > 0 {
				_ = rc.SetWriteDeadline(now.Add(cfg.WriteTimeout))
			}
			next.ServeHTTP(w, r)
		})
	}}
}

// untilEOF calls done once, when the body has been read to its end.
type untilEOF struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *untilEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.done)
	}
	return n, err
}

// ClientIP resolves the client's address and makes it the request's
// RemoteAddr (as chi's RealIP does), so that everything after it, the HTTP
// layer's record of the caller for sessions included, sees the client
// rather than the proxy.
func ClientIP(cfg Config) (api.Middleware, error) {
	res, err := clientip.NewResolver(cfg.TrustedProxies)
	if err != nil {
		return api.Middleware{}, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	return api.Middleware{Name: "clientip", Order: 50, Wrap: func(next http.Handler) http.Handler {
		return res.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a, ok := clientip.FromContext(r.Context()); ok {
				r.RemoteAddr = netip.AddrPortFrom(a, 0).String()
			}
			next.ServeHTTP(w, r)
		}))
	}}, nil
}

// BrowserPolicy sets the security headers, no-store on /v1/auth/ and CORS;
// HSTS in production.
func BrowserPolicy(c browserpolicy.Config, env config.Env) (api.Middleware, error) {
	c.HSTS = env == config.Production
	p, err := browserpolicy.New(c)
	if err != nil {
		return api.Middleware{}, err
	}
	return p.Middleware(), nil
}

// TextGuard checks paths, queries and JSON bodies before decoding.
func TextGuard(log *slog.Logger) api.Middleware {
	return textguard.NewHTTP(writer(log)).Middleware()
}

// NewLimiter limits in Redis when it is configured, else in process; fx
// stops its background probe at shutdown.
func NewLimiter(lc fx.Lifecycle, rc *redisconn.Conn, log *slog.Logger) *ratelimit.Limiter {
	opts := ratelimit.Options{Prefix: keyPrefix}
	var l *ratelimit.Limiter
	if rc.Enabled() {
		l = ratelimit.New(rc.Client, log, opts)
	} else {
		l = ratelimit.New(nil, log, opts)
	}
	lc.Append(fx.StopHook(l.Close))
	return l
}

// keyPrefix namespaces the limits' Redis keys. Instances of one deployment
// share it (that is the point of Redis); test binaries, which run in
// parallel against one Redis and all call from 127.0.0.1, get one of their
// own per process, so one package's tests never spend another's budget.
var keyPrefix = func() string {
	if testing.Testing() {
		return "jarvis-test-" + rand.Text() + ":"
	}
	return "jarvis:"
}()

// RateLimit applies the limits; the per-user one counts only tokens whose
// signature and claims verify (no database: the request's own
// authentication checks the session afterwards, reusing the verified
// claims: the token's signature is checked once per request).
func RateLimit(l *ratelimit.Limiter, limits ratelimit.Config, iss *token.Issuer, mp metric.MeterProvider, log *slog.Logger) (api.Middleware, error) {
	authn := func(ctx context.Context, bearer string) (context.Context, string, bool) {
		c, err := iss.Verify(bearer)
		if err != nil {
			return ctx, "", false
		}
		return token.NewContext(ctx, bearer, c), c.UserID.String(), true
	}
	h, err := ratelimit.NewHTTP(l, limits, authn, writer(log)).Measure(mp)
	if err != nil {
		return api.Middleware{}, err
	}
	return h.Middleware(), nil
}

func writer(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) { httpapi.WriteError(w, r, log, err) }
}
