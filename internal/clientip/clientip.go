// Package clientip finds the address of the client behind a request: the
// connection's peer, unless that peer is a configured trusted proxy, in which
// case the proxies' Forwarded / X-Forwarded-For headers are read right to
// left, skipping trusted hops. Anything a client writes in those headers
// itself is to the left of what the trusted proxies appended, so it is never
// believed.
package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client addresses; the zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver parses the trusted proxies: CIDR prefixes or single addresses
// ("10.0.0.0/8", "127.0.0.1", "::1").
func NewResolver(trusted []string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			r.trusted = append(r.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return r, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client address of req. It is invalid only when
// RemoteAddr itself is not an address (a test's fake request, say).
func (r *Resolver) Resolve(req *http.Request) netip.Addr {
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() || !r.isTrusted(peer) {
		return peer
	}
	// The standard header wins when a proxy sets it; otherwise the de facto one.
	hops := forwardedFor(req.Header.Values("Forwarded"))
	if hops == nil {
		hops = xForwardedFor(req.Header.Values("X-Forwarded-For"))
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := hops[i]
		if !a.IsValid() {
			// An obfuscated or garbled hop: nothing left of it can be
			// attributed, so the last trusted hop's view stands.
			return client
		}
		client = a
		if !r.isTrusted(a) {
			return a
		}
	}
	return client
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// xForwardedFor splits every X-Forwarded-For header (several are one list)
// into addresses in order; an entry that is not an address is kept as an
// invalid Addr so the walk stops there.
func xForwardedFor(values []string) []netip.Addr {
	var out []netip.Addr
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			out = append(out, parseHost(part))
		}
	}
	return out
}

// forwardedFor reads the for= parameters of RFC 7239 Forwarded headers, in
// order; nil when there is none.
func forwardedFor(values []string) []netip.Addr {
	var out []netip.Addr
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
					continue
				}
				out = append(out, parseHost(strings.Trim(strings.TrimSpace(val), `"`)))
			}
		}
	}
	return out
}

// parseHost accepts "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" and "[::1]:80".
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

type ctxKey struct{}

// NewContext returns ctx carrying the client address.
func NewContext(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// FromContext returns the address Middleware resolved, if any.
func FromContext(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(ctxKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// Middleware resolves the client address once and puts it in the request's
// context, for rate limits and session records alike.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		next.ServeHTTP(w, req.WithContext(NewContext(req.Context(), r.Resolve(req))))
	})
}

// Of returns the client address of req: from the context when Middleware
// ran, else the connection's peer.
func Of(req *http.Request) netip.Addr {
	if a, ok := FromContext(req.Context()); ok {
		return a
	}
	return peerAddr(req.RemoteAddr)
}
