package e2ee

import (
	"context"
	"database/sql"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// Auditor records key changes inside their transaction. A nil Auditor
// records nothing.
type Auditor interface {
	Record(ctx context.Context, tx *sql.Tx, e audit.Entry) error
}

// record notes a cross-signing or key-backup change of user's: what
// changed, never key material.
func (s *Service) record(ctx context.Context, tx *sql.Tx, action string, user id.UserID, detail map[string]string) error {
	if s.Audit == nil {
		return nil
	}
	return s.Audit.Record(ctx, tx, audit.Entry{Action: action, TargetUser: string(user), Detail: detail})
}
