// Package accounts owns users, passwords, devices, access and refresh
// tokens, login, registration (with User-Interactive Auth), profiles,
// account data, tags and filters. It never stores a token or a password in
// the clear and never logs one.
package accounts

import (
	"context"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/config"
	"ward/internal/db"
	"ward/internal/stream"
)

// Session is an authenticated caller: who, on which device.
type Session struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	IsAdmin  bool
}

// Service is the accounts domain.
type Service struct {
	db       *db.DB
	cfg      config.Config
	notifier *stream.Notifier
}

// New returns the accounts service.
func New(d *db.DB, cfg config.Config, n *stream.Notifier) *Service {
	return &Service{db: d, cfg: cfg, notifier: n}
}

// Ping checks that the database answers.
func (s *Service) Ping(ctx context.Context) error {
	return s.db.Read.PingContext(ctx)
}

// Authenticate resolves an access token to its session and records where
// the device was last seen.
func (s *Service) Authenticate(ctx context.Context, token, remoteAddr, userAgent string) (Session, error) {
	return Session{}, mautrix.MUnknownToken.WithMessage("Unknown access token")
}

// Profile returns a user's display name and avatar URL ("" when unset).
func (s *Service) Profile(ctx context.Context, user id.UserID) (displayName, avatarURL string, err error) {
	return "", "", nil
}

// CreateUser makes a local account (used by `ward admin user create` and
// shared-secret registration).
func (s *Service) CreateUser(ctx context.Context, localpart, password string, admin bool) (id.UserID, error) {
	return "", mautrix.MUnrecognized.WithMessage("not implemented")
}
