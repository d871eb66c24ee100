package e2ee

import (
	"context"
	"slices"

	"maunium.net/go/mautrix/id"
)

// Reach is the clinic policy as e2ee asks it: whom a user may reach with
// key queries, key claims and to-device messages. A nil Reach means plain
// Matrix behaviour (everyone may reach everyone).
//
// e2ee itself answers for the people a user already shares a room with
// (joined or invited): they are always reachable. Reach decides the rest,
// from whether the two could share a room at all.
type Reach interface {
	// Reachable reports which of others actor may reach.
	Reachable(ctx context.Context, actor id.UserID, others []id.UserID) (map[id.UserID]bool, error)
	// CheckReach refuses (and records the refusal of) action when actor
	// may not reach one of targets.
	CheckReach(ctx context.Context, actor id.UserID, targets []id.UserID, action string) error
}

// strangers returns the users among users who share no room with actor
// (actor is never one), sorted so that a refusal names the same one each
// time.
func (s *Service) strangers(ctx context.Context, actor id.UserID, users []id.UserID) ([]id.UserID, error) {
	peers, err := roomPeers(ctx, s.db.Read, actor)
	if err != nil {
		return nil, err
	}
	var out []id.UserID
	for _, u := range users {
		if !peers[u] && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

// unreachable returns the users among users whom actor may not reach;
// people one may not reach do not exist for one (no devices, no keys).
func (s *Service) unreachable(ctx context.Context, actor id.UserID, users []id.UserID) (map[id.UserID]bool, error) {
	out := map[id.UserID]bool{}
	if s.Reach == nil || len(users) == 0 {
		return out, nil
	}
	rest, err := s.strangers(ctx, actor, users)
	if err != nil || len(rest) == 0 {
		return out, err
	}
	ok, err := s.Reach.Reachable(ctx, actor, rest)
	if err != nil {
		return nil, err
	}
	for _, u := range rest {
		if !ok[u] {
			out[u] = true
		}
	}
	return out, nil
}

// checkReach refuses a to-device request as a whole when actor may not
// reach one of its recipients.
func (s *Service) checkReach(ctx context.Context, actor id.UserID, users []id.UserID, action string) error {
	if s.Reach == nil || len(users) == 0 {
		return nil
	}
	rest, err := s.strangers(ctx, actor, users)
	if err != nil || len(rest) == 0 {
		return err
	}
	return s.Reach.CheckReach(ctx, actor, rest, action)
}
