// Package syncapi assembles /sync from the streams of rooms and accounts
// (and later e2ee and push), and parks long-polling requests on the
// notifier until there is something for them. It owns no tables.
package syncapi

import (
	"context"
	"encoding/json"
	"log/slog"

	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/internal/db"
	"ward/internal/stream"
	"ward/rooms"
)

// AccountStore is what /sync needs from accounts.
type AccountStore interface {
	AccountDataSince(ctx context.Context, user id.UserID, since, upto stream.Position) ([]accounts.AccountData, error)
	Filter(ctx context.Context, user id.UserID, filterID string) (json.RawMessage, error)
}

// Service answers /sync.
type Service struct {
	db       *db.DB
	rooms    *rooms.Service
	accounts AccountStore
	notifier *stream.Notifier
	stopping <-chan struct{}
	log      *slog.Logger

	// E2EE, when set, fills the end-to-end encryption parts of /sync.
	E2EE E2EESource
}

// New returns the sync service. stopping, when closed, ends every
// long-poll early (graceful shutdown).
func New(d *db.DB, r *rooms.Service, a AccountStore, n *stream.Notifier, stopping <-chan struct{}, log *slog.Logger) *Service {
	return &Service{db: d, rooms: r, accounts: a, notifier: n, stopping: stopping, log: log}
}
