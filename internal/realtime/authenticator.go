package realtime

import (
	"context"

	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// sessionAuthenticator checks a socket's token as every request's is
// checked (auth.Service.Authenticate: claims, then the session in the
// database), and reads the token's expiry for the socket's timer.
type sessionAuthenticator struct {
	svc *auth.Service
	iss *token.Issuer
}

// NewAuthenticator is the Authenticator of the service.
func NewAuthenticator(svc *auth.Service, iss *token.Issuer) Authenticator {
	return sessionAuthenticator{svc: svc, iss: iss}
}

func (a sessionAuthenticator) Authenticate(ctx context.Context, access string) (Identity, error) {
	ctx, err := a.svc.Authenticate(ctx, access)
	if err != nil {
		return Identity{}, err
	}
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return Identity{}, auth.ErrUnauthorized
	}
	// The signature was just verified: this only reads the expiry.
	c, err := a.iss.Verify(access)
	if err != nil {
		return Identity{}, fault.New(fault.Unauthorized, "unauthorized").Wrap(err)
	}
	return Identity{UserID: v.UserID, SessionID: v.SessionID, ExpiresAt: c.ExpiresAt}, nil
}
