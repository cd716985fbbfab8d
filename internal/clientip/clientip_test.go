package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestResolve(t *testing.T) {
	proxies := []string{"10.0.0.0/8", "::1", "127.0.0.1"}
	cases := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		fwd     []string
		want    string
	}{
		{"no proxies: the peer, whatever the headers say", nil, "203.0.113.7:5000", []string{"1.1.1.1"}, nil, "203.0.113.7"},
		{"untrusted peer: headers ignored", proxies, "203.0.113.7:5000", []string{"1.1.1.1"}, nil, "203.0.113.7"},
		{"trusted peer, one hop", proxies, "10.1.2.3:443", []string{"198.51.100.9"}, nil, "198.51.100.9"},
		{"client-written entries left of the real one are ignored", proxies, "10.1.2.3:443", []string{"6.6.6.6, 198.51.100.9"}, nil, "198.51.100.9"},
		{"trusted hops are skipped right to left", proxies, "10.1.2.3:443", []string{"198.51.100.9, 10.9.9.9", "10.8.8.8"}, nil, "198.51.100.9"},
		{"all hops trusted: the leftmost", proxies, "10.1.2.3:443", []string{"10.4.4.4, 10.9.9.9"}, nil, "10.4.4.4"},
		{"garbage hop stops the walk at the last trusted view", proxies, "10.1.2.3:443", []string{"6.6.6.6, not-an-ip, 10.9.9.9"}, nil, "10.9.9.9"},
		{"no header: the proxy itself", proxies, "10.1.2.3:443", nil, nil, "10.1.2.3"},
		{"IPv6 peer trusted, XFF with port", proxies, "[::1]:8080", []string{"198.51.100.9:1234"}, nil, "198.51.100.9"},
		{"Forwarded wins over X-Forwarded-For", proxies, "127.0.0.1:1", []string{"1.1.1.1"}, []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, "192.0.2.60"},
		{"Forwarded IPv6 quoted with port", proxies, "127.0.0.1:1", nil, []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded several elements, right to left", proxies, "127.0.0.1:1", nil, []string{`for=6.6.6.6, for=192.0.2.43`, `for=10.0.0.5`}, "192.0.2.43"},
		{"Forwarded obfuscated identifier", proxies, "127.0.0.1:1", nil, []string{`for=_hidden, for=10.0.0.5`}, "10.0.0.5"},
		{"IPv4-mapped IPv6 peer counts as IPv4", proxies, "[::ffff:127.0.0.1]:9", []string{"198.51.100.1"}, nil, "198.51.100.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewResolver(c.trusted)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = c.remote
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range c.fwd {
				req.Header.Add("Forwarded", v)
			}
			if got := r.Resolve(req).String(); got != c.want {
				t.Fatalf("Resolve = %s, want %s", got, c.want)
			}
		})
	}
}

func TestNewResolverRefusesGarbage(t *testing.T) {
	if _, err := NewResolver([]string{"10.0.0.0/8", "proxy.internal"}); err == nil {
		t.Fatal("accepted a host name as a trusted proxy")
	}
}
