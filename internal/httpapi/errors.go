package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/ogen-go/ogen/validate"

	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/openapi"
)

// kinds maps each fault kind to its status and default code: the whole of
// the API's error vocabulary, in one place, naming no module.
var kinds = map[fault.Kind]struct {
	status int
	code   openapi.ErrorResponseErrorCode
}{
	fault.Invalid:        {http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR},
	fault.Unauthorized:   {http.StatusUnauthorized, openapi.ErrorResponseErrorCodeUNAUTHORIZED},
	fault.Forbidden:      {http.StatusForbidden, openapi.ErrorResponseErrorCodeFORBIDDEN},
	fault.NotFound:       {http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND},
	fault.Conflict:       {http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT},
	fault.BudgetExceeded: {http.StatusPaymentRequired, openapi.ErrorResponseErrorCodeBUDGETEXCEEDED},
	fault.RateLimited:    {http.StatusTooManyRequests, openapi.ErrorResponseErrorCodeRATELIMITED},
	fault.Unavailable:    {http.StatusServiceUnavailable, openapi.ErrorResponseErrorCodeUNAVAILABLE},
	fault.TooLarge:       {http.StatusRequestEntityTooLarge, openapi.ErrorResponseErrorCodePAYLOADTOOLARGE},
}

// problem is a response ready to write.
type problem struct {
	status     int
	body       openapi.ErrorResponseError
	retryAfter int // seconds; 0 for none
}

var (
	errUnauthorized = fault.New(fault.Unauthorized, "sign in first: a valid bearer access token is required")
	errNotFound     = fault.NotFoundf("no such resource")
	errInternalMsg  = "something went wrong on our side; quote the correlation id when reporting it"
)

// problemOf turns any error into the response the API gives for it. Errors
// nobody classified are logged with their cause and answered as INTERNAL,
// with nothing internal in the body; a client that went away is logged at
// info, since nothing failed on our side.
func problemOf(ctx context.Context, log *slog.Logger, err error) problem {
	err = ogenFault(err)
	var se *statusError
	if errors.As(err, &se) {
		return problem{status: se.status, body: openapi.ErrorResponseError{
			Code: se.code, Message: se.message, CorrelationID: logging.CorrelationID(ctx)}}
	}
	var vde *validate.Error
	if errors.As(err, &vde) {
		fields := make([]fault.Field, 0, len(vde.Fields))
		for _, f := range vde.Fields {
			fields = append(fields, fault.Field{Name: f.Name, Reason: f.Error.Error()})
		}
		err = &fault.Error{Kind: fault.Invalid, Message: "invalid request", Fields: fields, Err: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = fault.New(fault.TooLarge, "request body is over the limit of %d bytes", mbe.Limit)
	}
	f, ok := fault.As(err)
	if !ok {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			logging.FromContext(ctx, log).InfoContext(ctx, "client went away", slog.Any("error", err))
		} else {
			logging.FromContext(ctx, log).ErrorContext(ctx, "request failed", slog.Any("error", err))
		}
		return problem{status: http.StatusInternalServerError, body: openapi.ErrorResponseError{
			Code: openapi.ErrorResponseErrorCodeINTERNAL, Message: errInternalMsg, CorrelationID: logging.CorrelationID(ctx)}}
	}
	k, known := kinds[f.Kind]
	if !known {
		logging.FromContext(ctx, log).ErrorContext(ctx, "request failed: unmapped fault kind", slog.Any("error", err))
		return problemOf(ctx, log, errors.New(f.Kind.String()))
	}
	p := problem{status: k.status, body: openapi.ErrorResponseError{
		Code: k.code, Message: f.Message, CorrelationID: logging.CorrelationID(ctx)}}
	if f.Code != "" {
		p.body.Code = openapi.ErrorResponseErrorCode(f.Code)
	}
	if f.Kind == fault.Invalid {
		for _, fl := range fault.Fields(err) {
			d := openapi.ErrorDetail{Message: fl.Reason}
			if fl.Name != "" {
				d.Field = openapi.NewOptString(fl.Name)
			}
			p.body.Details = append(p.body.Details, d)
		}
		if len(p.body.Details) > 1 {
			p.body.Message = "invalid request: " + strconv.Itoa(len(p.body.Details)) + " fields at fault"
		}
	}
	if f.RetryAfter > 0 {
		p.retryAfter = max(1, int((f.RetryAfter+999_999_999)/1_000_000_000))
	}
	return p
}

// newError is ogen's error hook for operations' returned errors.
func newError(log *slog.Logger) func(ctx context.Context, err error) *openapi.ErrorStatusCode {
	return func(ctx context.Context, err error) *openapi.ErrorStatusCode {
		p := problemOf(ctx, log, err)
		if p.retryAfter > 0 {
			if w, ok := ctx.Value(writerKey{}).(http.ResponseWriter); ok {
				w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
			}
		}
		return &openapi.ErrorStatusCode{StatusCode: p.status, Response: openapi.ErrorResponse{Error: p.body}}
	}
}

// statusError is an answer of the HTTP layer itself that no fault kind
// names (405).
type statusError struct {
	status  int
	code    openapi.ErrorResponseErrorCode
	message string
}

func (e *statusError) Error() string { return e.message }

// writerKey carries the response writer to newError, which ogen gives no
// writer but whose 429s need a Retry-After header.
type writerKey struct{}

// WriteError writes err as the API's error body, outside ogen (router
// misses, middleware refusals, panics, routes of modules).
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemOf(r.Context(), log, err)
	if p.status == http.StatusRequestEntityTooLarge {
		drainBody(r)
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(p.status)
	out, err := (&openapi.ErrorResponse{Error: p.body}).MarshalJSON() // ogen's encoder: optional fields stay out
	if err != nil {
		return
	}
	_, _ = w.Write(out)
}

// ogenFault classifies ogen's own failures: undecodable or invalid requests
// are Invalid naming the field, an oversized body TooLarge, a failed security
// requirement Unauthorized (or the auth module's own, TOKEN_EXPIRED). ogen
// hands them to NewError or to the error handler depending on the path.
func ogenFault(err error) error {
	var (
		sec *ogenerrors.SecurityError
		dpe *ogenerrors.DecodeParamsError
		dre *ogenerrors.DecodeRequestError
		mbe *http.MaxBytesError
		vde *validate.Error
	)
	switch {
	case errors.As(err, &sec):
		if fault.Is(sec.Err, fault.Unauthorized) {
			return sec.Err
		}
		return errUnauthorized.Wrap(err)
	case errors.Is(err, ogenerrors.ErrSecurityRequirementIsNotSatisfied):
		return errUnauthorized.Wrap(err)
	case errors.As(err, &mbe):
		return mbe
	case errors.As(err, &dpe):
		var pe *ogenerrors.DecodeParamError
		field := ""
		if errors.As(err, &pe) {
			field = pe.Name
		}
		return fault.InvalidField(field, "invalid value").Wrap(err)
	case errors.As(err, &dre):
		if errors.As(dre.Err, &vde) {
			return dre.Err
		}
		return fault.InvalidField("body", "not valid JSON for this operation").Wrap(err)
	}
	return err
}

// decodeErrorHandler answers ogen's failures that do not go through NewError.
func decodeErrorHandler(log *slog.Logger) ogenerrors.ErrorHandler {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
		WriteError(w, r, log, err)
	}
}

// challenge adds the WWW-Authenticate header to every 401, whichever path
// (ours or ogen's) wrote it.
func challenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&challengeWriter{ResponseWriter: w}, r)
	})
}

type challengeWriter struct{ http.ResponseWriter }

func (c *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Bearer realm="jarvis"`)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// recoverPanics answers a panic with INTERNAL and logs it with its stack;
// nothing of it reaches the client.
func recoverPanics(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					logging.FromContext(r.Context(), log).ErrorContext(r.Context(), "panic",
						slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
					WriteError(w, r, log, errors.New("panic"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
