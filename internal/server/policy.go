package server

import (
	"context"

	"maunium.net/go/mautrix/id"

	"ward/policy"
	"ward/rooms"
)

// policyRooms lets the policy take people out of rooms through rooms,
// without either package importing the other.
type policyRooms struct{ r *rooms.Service }

func (p policyRooms) SharedRooms(ctx context.Context, user id.UserID) ([]policy.RoomMembers, error) {
	all, err := p.r.RoomsOf(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []policy.RoomMembers
	for _, m := range all {
		if m.Membership != "join" && m.Membership != "invite" {
			continue
		}
		f, err := p.r.Facts(ctx, m.RoomID)
		if err != nil {
			return nil, err
		}
		out = append(out, policy.RoomMembers{RoomID: m.RoomID, Purpose: policy.PurposeOf(f.Purpose), Creator: f.Creator, Members: f.Members})
	}
	return out, nil
}

func (p policyRooms) Leave(ctx context.Context, user id.UserID, roomID id.RoomID, reason string) (bool, error) {
	return p.r.LeaveIfIn(ctx, user, roomID, reason)
}
