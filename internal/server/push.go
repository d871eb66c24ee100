package server

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/internal/stream"
	"ward/push"
)

// syncAccountData is the account data /sync reads: that of accounts, plus
// the user's push rules in a sync from position 0 that found none, since a
// user who never changed a rule has nothing stored and clients
// (matrix-js-sdk, mautrix-go) read their rules from the initial sync's
// account data.
//
// Nothing is written for a normal initial sync: a write would take a stream
// position after the sync's own and make the client's next long-poll return
// at once with the same rules. The one exception is a server whose streams
// are still empty (upto 0): there an initial sync and an incremental one
// from the token "s0" look alike, and without a write every long-poll would
// return at once with the rules again. Storing the defaults moves the
// stream on, so the client gets them once more and then waits as usual.
type syncAccountData struct {
	*accounts.Service
	push *push.Service
}

func (a syncAccountData) AccountDataSince(ctx context.Context, user id.UserID, since, upto stream.Position) ([]accounts.AccountData, error) {
	ad, err := a.Service.AccountDataSince(ctx, user, since, upto)
	if err != nil || since != 0 {
		return ad, err
	}
	for _, d := range ad {
		if d.RoomID == "" && d.Type == "m.push_rules" {
			return ad, nil
		}
	}
	var content json.RawMessage
	if upto == 0 {
		content, err = a.push.StoreDefaults(ctx, user)
	} else {
		content, err = a.push.Content(ctx, user)
	}
	if err != nil {
		return nil, err
	}
	return append(ad, accounts.AccountData{Type: "m.push_rules", Content: content}), nil
}

// devicesDeleted tells e2ee (keys, device lists) and push (the devices'
// pushers) that devices are gone.
func (s *Server) devicesDeleted(ctx context.Context, user id.UserID, devices []id.DeviceID) {
	s.E2EE.DevicesDeleted(ctx, user, devices)
	if err := s.Push.DevicesDeleted(ctx, user, devices); err != nil {
		s.Log.ErrorContext(ctx, "delete pushers of deleted devices", "user", user, "error", err)
	}
}
