package textguard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// ErrorWriter writes err as the API's error response.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Limits of what a request may carry before it is looked at.
const (
	// MaxBody is the largest JSON body checked (the largest legitimate
	// one is a secret value); a larger one is refused as too large.
	MaxBody = 1 << 20
	// MaxParam is the longest query parameter value: cursors and filters
	// are short.
	MaxParam = 2048
)

// HTTP checks every request's path, query parameters and, for JSON
// bodies, the body, before the generated server decodes them.
type HTTP struct {
	writeErr ErrorWriter
}

// NewHTTP returns the checks, writing refusals with writeErr.
func NewHTTP(writeErr ErrorWriter) *HTTP { return &HTTP{writeErr: writeErr} }

// Middleware is h for the HTTP layer's chain: early, before rate limits
// peek at sign-in bodies and long before anything reaches a service.
func (h *HTTP) Middleware() api.Middleware {
	return api.Middleware{Name: "textguard", Order: 200, Wrap: h.Wrap}
}

// Wrap refuses a request whose text is not storable with 400 (or 413 for a
// body over MaxBody), and hands the body on unchanged otherwise.
func (h *HTTP) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := Params(r.URL); err != nil {
			h.writeErr(w, r, err)
			return
		}
		// A body that announces itself as too large is the HTTP layer's to
		// refuse (it drains it, so the client reads the 413).
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength <= MaxBody && isJSON(r.Header.Get("Content-Type")) {
			b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					h.writeErr(w, r, tooLarge())
					return
				}
				// The client stopped sending: nothing to answer, and not
				// the server's failure.
				h.writeErr(w, r, fault.InvalidField("body", "could not be read").Wrap(err))
				return
			}
			if len(b) > MaxBody {
				h.writeErr(w, r, tooLarge())
				return
			}
			if err := JSON(b); err != nil {
				h.writeErr(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge() error {
	return &fault.Error{Kind: fault.TooLarge, Message: fmt.Sprintf("request body too large: at most %d bytes", MaxBody)}
}

// isJSON reports whether a Content-Type is JSON (application/json or any
// +json type). Other bodies go to the decoder, which refuses them.
func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// Params checks the path and every query parameter's name and value.
func Params(u *url.URL) error {
	if reason := Text(u.Path); reason != "" {
		return fault.InvalidField("path", reason)
	}
	if u.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fault.InvalidField("query", "is not a valid query string")
	}
	var errs []error
	for name, values := range q {
		field := name
		if reason := Text(name); reason != "" {
			errs = append(errs, fault.InvalidField("query", "parameter names "+reason))
			continue
		}
		for _, v := range values {
			if reason := Text(v); reason != "" {
				errs = append(errs, fault.InvalidField(field, reason))
				break
			}
			if len(v) > MaxParam {
				errs = append(errs, fault.InvalidField(field, fmt.Sprintf("must be at most %d bytes", MaxParam)))
				break
			}
		}
	}
	return errors.Join(errs...)
}
