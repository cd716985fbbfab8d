// Package fault is the neutral vocabulary of failures that services return
// and the HTTP layer maps once: not found, conflict, invalid (with the field),
// unauthorized, forbidden, budget exceeded, rate limited, unavailable. A
// module wraps its causes in these kinds; it never names an HTTP status, and
// the HTTP layer never names a module's error.
//
// Messages are for people and are shown to the client: they never hold a
// secret, a token, a password or an internal cause. The cause goes in Err,
// which is logged (redacted) but never sent.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind is what went wrong, from the caller's point of view.
type Kind uint8

const (
	// Invalid input: 400. Fields name what is at fault.
	Invalid Kind = iota + 1
	// Unauthorized: no valid credentials (401).
	Unauthorized
	// Forbidden: the caller is known but may not do this (403). Another
	// user's resource is NotFound, never Forbidden, so ids can't be probed.
	Forbidden
	// NotFound: no such resource for this caller (404).
	NotFound
	// Conflict with the resource's current state (409).
	Conflict
	// BudgetExceeded: the user's spending limit is reached (402).
	BudgetExceeded
	// RateLimited: too many requests; RetryAfter says when to come back (429).
	RateLimited
	// Unavailable: the service is saturated or a dependency is down (503).
	Unavailable
	// TooLarge: the request body is over the limit (413).
	TooLarge
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Unauthorized:
		return "unauthorized"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not found"
	case Conflict:
		return "conflict"
	case BudgetExceeded:
		return "budget exceeded"
	case RateLimited:
		return "rate limited"
	case Unavailable:
		return "unavailable"
	case TooLarge:
		return "too large"
	default:
		return fmt.Sprintf("kind(%d)", k)
	}
}

// Field is one input at fault.
type Field struct {
	Name   string // the input field ("name", "body", "cursor")
	Reason string // why, for people; never the value
}

// Error is a classified failure.
type Error struct {
	Kind    Kind
	Code    string // a more specific stable code (EMAIL_EXISTS, TOKEN_EXPIRED); empty: the kind's own
	Message string
	Fields  []Field
	// RetryAfter is when a RateLimited or Unavailable caller may try again.
	RetryAfter time.Duration
	// Err is the internal cause: logged, never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error of the same kind and code, so sentinels made
// with these constructors work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Code == e.Code && t.Message == e.Message
}

// New returns an error of kind with a message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// WithCode returns a copy of e with a specific stable code.
func (e *Error) WithCode(code string) *Error {
	c := *e
	c.Code = code
	return &c
}

// Wrap returns a copy of e with cause as its internal cause.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// NotFoundf is a missing resource: "run not found".
func NotFoundf(format string, args ...any) *Error { return New(NotFound, format, args...) }

// Conflictf is a request that contradicts the resource's state.
func Conflictf(format string, args ...any) *Error { return New(Conflict, format, args...) }

// Forbiddenf is a refusal for a known caller.
func Forbiddenf(format string, args ...any) *Error { return New(Forbidden, format, args...) }

// InvalidField is one input at fault. Several join with errors.Join and
// the HTTP layer lists them all.
func InvalidField(field, reason string) *Error {
	return &Error{Kind: Invalid, Message: "invalid " + field + ": " + reason, Fields: []Field{{field, reason}}}
}

// RateLimitedf is a refusal until retryAfter has passed.
func RateLimitedf(retryAfter time.Duration, format string, args ...any) *Error {
	e := New(RateLimited, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf is the kind of the first *Error in err's chain, or 0.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return 0
}

// Is reports whether err is classified as kind.
func Is(err error, kind Kind) bool { return KindOf(err) == kind }

// Fields lists every input at fault in err, including every branch of a
// joined error, in order.
func Fields(err error) []Field {
	var out []Field
	var visit func(error)
	visit = func(e error) {
		if fe, ok := e.(*Error); ok && fe.Kind == Invalid {
			out = append(out, fe.Fields...)
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				visit(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				visit(x)
			}
		}
	}
	visit(err)
	return out
}
