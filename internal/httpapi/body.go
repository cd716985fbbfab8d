package httpapi

import (
	"context"
	"io"
	"net/http"
	"time"
)

// maxBody caps request bodies: the largest legitimate one is a secret value
// or a memory's text with its vector.
const maxBody = 1 << 20

// drainMax is how much of an oversized body is read and discarded before
// answering 413: a client that sends its whole body before reading the
// answer then gets the answer rather than a reset connection. Past it the
// connection is closed.
const drainMax = 16 << 20

type bodyKey struct{}

// limitBody refuses bodies over max with PAYLOAD_TOO_LARGE: at once when
// Content-Length says so, else when the reader crosses the limit.
func limitBody(max int64, next http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, r.Body))
			refuse(w, r, &http.MaxBytesError{Limit: max})
			return
		}
		orig := r.Body
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, orig)))
	})
}

// drainBody reads what is left of an oversized body, bounded in bytes and
// time, so the answer reaches a client still writing it.
func drainBody(r *http.Request) {
	body, ok := r.Context().Value(bodyKey{}).(io.ReadCloser)
	if !ok {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.CopyN(io.Discard, body, drainMax)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = body.Close()
	}
}
