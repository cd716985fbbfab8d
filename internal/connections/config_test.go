package connections_test

import (
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/connections"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	const secret = "very-secret-client-secret"
	for name, tc := range map[string]struct {
		env  map[string]string
		want string // a substring of the error; "" for none
	}{
		"defaults": {env: map[string]string{}},
		"built-in": {env: map[string]string{"CONNECTIONS_PROVIDERS": `[{"name":"github","client_id":"a","client_secret":"` + secret + `"}]`}},
		"not json": {env: map[string]string{"CONNECTIONS_PROVIDERS": `{"name":` + secret}, want: "CONNECTIONS_PROVIDERS: must be a JSON array"},
		"unknown field": {env: map[string]string{"CONNECTIONS_PROVIDERS": `[{"name":"github","client_id":"a","client_secret":"b","secret":"` + secret + `"}]`},
			want: "must be a JSON array"},
		"generic without endpoints": {env: map[string]string{"CONNECTIONS_PROVIDERS": `[{"name":"acme","client_id":"a","client_secret":"` + secret + `"}]`},
			want: "auth_url is required"},
		"no credentials": {env: map[string]string{"CONNECTIONS_PROVIDERS": `[{"name":"google"}]`}, want: "client_id and client_secret are required"},
		"twice": {env: map[string]string{"CONNECTIONS_PROVIDERS": `[{"name":"google","client_id":"a","client_secret":"b"},{"name":"google","client_id":"a","client_secret":"b"}]`},
			want: "appears twice"},
		"bad url": {env: map[string]string{"CONNECTIONS_PROVIDERS": `[{"name":"acme","client_id":"a","client_secret":"b","auth_url":"ftp://x","token_url":"https://x/t"}]`},
			want: "auth_url must be an absolute http(s) URL"},
		"bad redirect": {env: map[string]string{"CONNECTIONS_REDIRECT_URLS": "https://app.example/cb,javascript:alert(1)"}, want: "CONNECTIONS_REDIRECT_URLS: entry 2"},
		"attempts":     {env: map[string]string{"CONNECTIONS_REFRESH_ATTEMPTS": "0"}, want: "CONNECTIONS_REFRESH_ATTEMPTS"},
		"state ttl":    {env: map[string]string{"CONNECTIONS_STATE_TTL": "1s"}, want: "CONNECTIONS_STATE_TTL"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load[connections.Config](config.Map(tc.env))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Fatalf("the error shows a value: %v", err)
			}
		})
	}
}
