package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/id"
)

// pushRulesType is the global account data that holds a user's push rules.
// Clients cannot write it (serverManagedTypes); the push package does,
// through UpdatePushRules.
const pushRulesType = "m.push_rules"

// PushRules returns the user's stored m.push_rules content, or nil when it
// was never written.
func (s *Service) PushRules(ctx context.Context, user id.UserID) (json.RawMessage, error) {
	var content string
	err := s.db.Read.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = '' AND type = $2`,
		user, pushRulesType).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read push rules: %w", err)
	}
	return json.RawMessage(content), nil
}

// UpdatePushRules replaces the user's m.push_rules with what change makes of
// the current content (nil when never written), in one transaction, and
// wakes the user's /sync, which then delivers the new rules.
func (s *Service) UpdatePushRules(ctx context.Context, user id.UserID, change func(old json.RawMessage) (json.RawMessage, error)) error {
	return s.writeAccountData(ctx, user, "", pushRulesType, change)
}
