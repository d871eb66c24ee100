package accounts

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/id"
)

// SetFullyRead moves the user's m.fully_read marker in a room. The caller
// checked that the user may see the event; clients cannot set this type
// through the account-data API (spec: "Fully read markers").
func (s *Service) SetFullyRead(ctx context.Context, user id.UserID, room id.RoomID, eventID id.EventID) error {
	content, err := json.Marshal(map[string]string{"event_id": string(eventID)})
	if err != nil {
		return err
	}
	return s.writeAccountData(ctx, user, room, "m.fully_read", func(json.RawMessage) (json.RawMessage, error) { return content, nil })
}
