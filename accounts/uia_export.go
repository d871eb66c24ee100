package accounts

import "context"

// RequirePassword runs User-Interactive Auth with the m.login.password
// stage for other packages' protected endpoints (for example replacing
// cross-signing keys): nil once the user proved their password, an
// *AuthRequired otherwise. purpose names the endpoint, so a session started
// for one endpoint cannot complete another.
func (s *Service) RequirePassword(ctx context.Context, sess Session, auth *AuthData, purpose string) error {
	return s.requirePassword(ctx, sess, auth, purpose)
}
