// Package accounts owns users, passwords, devices, access and refresh
// tokens, login, registration (with User-Interactive Auth), profiles,
// account data, tags and filters. It never stores a token or a password in
// the clear and never logs one.
package accounts

import (
	"context"
	"time"

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
	limiter  *rateLimiter
	// uiaLimiter counts password attempts in User-Interactive Auth, per
	// remote address and per user: a stolen access token must not allow
	// unlimited password guessing.
	uiaLimiter *rateLimiter
	now        func() time.Time
	// Audit records logins, sessions and account changes; nil: no audit.
	Audit Auditor

	// OnProfileChange, when set, is called after a user's display name or
	// avatar changed (the rooms package updates member events from it).
	OnProfileChange func(ctx context.Context, user id.UserID)
	// OnDevicesDeleted, when set, is called after devices were deleted
	// (logout, /logout/all, device deletion, password change, deactivation):
	// e2ee drops their keys and tells the user's contacts that the device
	// list changed; push drops their pushers.
	OnDevicesDeleted func(ctx context.Context, user id.UserID, devices []id.DeviceID)
	// OnDeactivate, when set, is called after an account was deactivated
	// (rooms makes the user leave their rooms, e2ee deletes the dehydrated
	// device).
	OnDeactivate func(ctx context.Context, user id.UserID)
	// DeviceIDReserved, when set, reports inside a login's transaction
	// whether a device ID the client asked for is taken by a device that is
	// not a session (e2ee's dehydrated device): such an ID is refused, so
	// that no login takes that device and its inbox over.
	DeviceIDReserved func(ctx context.Context, q db.Querier, user id.UserID, device id.DeviceID) (bool, error)
	// RegistrationTokens, when set, lets /register complete with an intake
	// token (the clinic policy's), even while registration is closed.
	RegistrationTokens RegistrationTokens
}

// New returns the accounts service.
func New(d *db.DB, cfg config.Config, n *stream.Notifier) *Service {
	return &Service{
		db: d, cfg: cfg, notifier: n,
		limiter:    newRateLimiter(cfg.RateLimitPerSecond, cfg.RateLimitBurst),
		uiaLimiter: newRateLimiter(cfg.RateLimitPerSecond, cfg.RateLimitBurst),
		now:        time.Now,
	}
}

// Ping checks that the database answers.
func (s *Service) Ping(ctx context.Context) error {
	return s.db.Read.PingContext(ctx)
}

// ServerName is the domain of this server's user IDs.
func (s *Service) ServerName() string { return s.cfg.ServerName }

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

func (s *Service) wake(user id.UserID) {
	if s.notifier != nil {
		s.notifier.Wake(string(user))
	}
}
