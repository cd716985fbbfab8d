package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/ogen-go/ogen/validate"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/secrets"
	"github.com/jarvis-core/jarvis/openapi"
)

// apiError is a failure with its HTTP status, stable code and a message for
// people. Nothing internal goes in it.
type apiError struct {
	status  int
	code    openapi.ErrorResponseErrorCode
	message string
	details []openapi.ErrorDetail
}

func (e *apiError) Error() string { return string(e.code) + ": " + e.message }

func fieldDetail(field, msg string) openapi.ErrorDetail {
	d := openapi.ErrorDetail{Message: msg}
	if field != "" {
		d.Field = openapi.NewOptString(field)
	}
	return d
}

var (
	errNotFound     = &apiError{http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND, "not found", nil}
	errUnauthorized = &apiError{http.StatusUnauthorized, openapi.ErrorResponseErrorCodeUNAUTHORIZED, "sign in first: a valid bearer access token is required", nil}
	errInternal     = &apiError{http.StatusInternalServerError, openapi.ErrorResponseErrorCodeINTERNAL, "something went wrong on our side; quote the correlation id when reporting it", nil}
)

// classify maps what services return onto the API's errors. Another user's
// row is not found, never forbidden, so ids cannot be probed.
func classify(err error) *apiError {
	var (
		ae  *apiError
		pe  *password.PolicyError
		ie  *secrets.InvalidError
		ve  *ent.ValidationError
		vde *validate.Error
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &pe):
		return &apiError{http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR, pe.Reason,
			[]openapi.ErrorDetail{fieldDetail("password", pe.Reason)}}
	case errors.As(err, &ie):
		return validation(err)
	case errors.As(err, &ve):
		return &apiError{http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR, "invalid " + ve.Name,
			[]openapi.ErrorDetail{fieldDetail(ve.Name, "invalid value")}}
	case errors.As(err, &vde):
		return validation(err)
	case errors.Is(err, auth.ErrEmailExists):
		return &apiError{http.StatusConflict, openapi.ErrorResponseErrorCodeEMAILEXISTS, err.Error(), nil}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &apiError{http.StatusUnauthorized, openapi.ErrorResponseErrorCodeINVALIDCREDENTIALS, err.Error(), nil}
	case errors.Is(err, auth.ErrInvalidRefresh):
		return &apiError{http.StatusUnauthorized, openapi.ErrorResponseErrorCodeUNAUTHORIZED, err.Error(), nil}
	case errors.Is(err, token.ErrExpired):
		return &apiError{http.StatusUnauthorized, openapi.ErrorResponseErrorCodeTOKENEXPIRED, "access token expired: refresh it", nil}
	case errors.Is(err, token.ErrInvalid), errors.Is(err, auth.ErrUnauthorized), errors.Is(err, db.ErrSessionInvalid),
		errors.Is(err, ogenerrors.ErrSecurityRequirementIsNotSatisfied):
		return errUnauthorized
	case errors.Is(err, secrets.ErrConflict):
		return &apiError{http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT, err.Error(), nil}
	case errors.Is(err, secrets.ErrNotFound), ent.IsNotFound(err):
		return errNotFound
	case errors.Is(err, secrets.ErrAmbiguous):
		return &apiError{http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR, err.Error(),
			[]openapi.ErrorDetail{fieldDetail("name", err.Error())}}
	}
	return nil
}

// validation lists every field at fault (services join one error per field).
func validation(err error) *apiError {
	var details []openapi.ErrorDetail
	var visit func(error)
	visit = func(e error) {
		var ie *secrets.InvalidError
		var vde *validate.Error
		switch {
		case errors.As(e, &vde) && vde == e:
			for _, f := range vde.Fields {
				details = append(details, fieldDetail(f.Name, f.Error.Error()))
			}
		case errors.As(e, &ie) && ie == e:
			details = append(details, fieldDetail(ie.Field, ie.Reason))
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				visit(x)
			}
		} else if u := errors.Unwrap(e); u != nil {
			visit(u)
		}
	}
	visit(err)
	msg := "invalid request"
	if len(details) == 1 {
		msg = "invalid " + details[0].Field.Or("request") + ": " + details[0].Message
	}
	return &apiError{http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR, msg, details}
}

func body(ctx context.Context, e *apiError) openapi.ErrorResponse {
	return openapi.ErrorResponse{Error: openapi.ErrorResponseError{
		Code: e.code, Message: e.message, Details: e.details, CorrelationID: logging.CorrelationID(ctx),
	}}
}

// errorStatus turns a handler's error into the response ogen writes. Errors
// nobody classified are logged with their cause and answered as INTERNAL.
func errorStatus(ctx context.Context, log *slog.Logger, err error) *openapi.ErrorStatusCode {
	e := classify(err)
	if e == nil {
		logging.FromContext(ctx, log).ErrorContext(ctx, "request failed", slog.Any("error", err))
		e = errInternal
	}
	return &openapi.ErrorStatusCode{StatusCode: e.status, Response: body(ctx, e)}
}

// writeError writes the error body outside ogen (router misses, panics,
// request decoding).
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	b := body(r.Context(), e)
	out, err := b.MarshalJSON() // ogen's encoder: optional fields stay out rather than null
	if err != nil {
		return
	}
	_, _ = w.Write(out)
}

// decodeErrorHandler answers ogen's own failures: undecodable or invalid
// requests are VALIDATION_ERROR naming the field; a failed security
// requirement is UNAUTHORIZED (or TOKEN_EXPIRED).
func decodeErrorHandler(log *slog.Logger) ogenerrors.ErrorHandler {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
		var (
			sec *ogenerrors.SecurityError
			dpe *ogenerrors.DecodeParamsError
			dre *ogenerrors.DecodeRequestError
		)
		switch {
		case errors.As(err, &sec):
			if e := classify(sec.Err); e != nil && e.status == http.StatusUnauthorized {
				writeError(w, r, e)
				return
			}
			writeError(w, r, errUnauthorized)
		case errors.As(err, &dpe):
			var pe *ogenerrors.DecodeParamError
			field := ""
			if errors.As(err, &pe) {
				field = pe.Name
			}
			writeError(w, r, &apiError{http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR,
				"invalid parameter " + field, []openapi.ErrorDetail{fieldDetail(field, "invalid value")}})
		case errors.As(err, &dre):
			if e := classify(dre.Err); e != nil {
				writeError(w, r, e)
				return
			}
			writeError(w, r, &apiError{http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR,
				"request body is not valid JSON for this operation", []openapi.ErrorDetail{fieldDetail("body", "malformed")}})
		default:
			logging.FromContext(ctx, log).ErrorContext(ctx, "request failed", slog.Any("error", err))
			writeError(w, r, errInternal)
		}
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
					writeError(w, r, errInternal)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
