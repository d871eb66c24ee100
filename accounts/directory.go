package accounts

import (
	"context"
	"strings"

	"maunium.net/go/mautrix/id"
)

// DirectoryEntry is one result of a user directory search.
type DirectoryEntry struct {
	UserID      id.UserID `json:"user_id"`
	DisplayName string    `json:"display_name,omitempty"`
	AvatarURL   string    `json:"avatar_url,omitempty"`
}

// SearchUsers finds active users among candidates whose user ID or display
// name contains term (case-insensitive), at most limit of them, and whether
// more matched (spec: POST /user_directory/search).
func (s *Service) SearchUsers(ctx context.Context, term string, candidates map[id.UserID]bool, limit int) ([]DirectoryEntry, bool, error) {
	term = strings.ToLower(strings.TrimSpace(term))
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, displayname, avatar_url FROM users WHERE deactivated = $1
		ORDER BY user_id`, false)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []DirectoryEntry{}
	limited := false
	for rows.Next() {
		var e DirectoryEntry
		if err := rows.Scan(&e.UserID, &e.DisplayName, &e.AvatarURL); err != nil {
			return nil, false, err
		}
		if !candidates[e.UserID] {
			continue
		}
		if !strings.Contains(strings.ToLower(string(e.UserID)), term) && !strings.Contains(strings.ToLower(e.DisplayName), term) {
			continue
		}
		if len(out) == limit {
			limited = true
			break
		}
		out = append(out, e)
	}
	return out, limited, rows.Err()
}
