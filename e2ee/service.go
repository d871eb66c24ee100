package e2ee

import (
	"time"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// Service is the e2ee domain.
type Service struct {
	db         *db.DB
	notifier   *stream.Notifier
	serverName string
	now        func() time.Time
	// Audit records cross-signing and key-backup changes; nil: no audit.
	Audit Auditor
	// Reach is the clinic policy's say on whom a user may reach; nil: the
	// policy is off.
	Reach Reach
}

// New returns the e2ee service for the server named serverName.
func New(d *db.DB, n *stream.Notifier, serverName string) *Service {
	return &Service{db: d, notifier: n, serverName: serverName, now: time.Now}
}

func (s *Service) wake(users ...id.UserID) {
	if s.notifier == nil || len(users) == 0 {
		return
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = string(u)
	}
	s.notifier.Wake(names...)
}

// isLocal reports whether user belongs to this server.
func (s *Service) isLocal(user id.UserID) bool {
	return user.Homeserver() == s.serverName
}
