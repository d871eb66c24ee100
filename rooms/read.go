package rooms

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// stateAt returns the room's state after position pos (all of it when pos
// is 0 or past the end).
func stateAt(ctx context.Context, q db.Querier, roomID id.RoomID, pos stream.Position) ([]*Event, error) {
	if pos <= 0 {
		return queryEvents(ctx, q, `SELECT `+eventColumns+` FROM events WHERE event_id IN
			(SELECT event_id FROM current_state WHERE room_id = $1) ORDER BY stream_pos`, string(roomID))
	}
	return queryEvents(ctx, q, `SELECT `+eventColumns+` FROM events e WHERE e.room_id = $1 AND e.state_key IS NOT NULL
		AND e.stream_pos = (SELECT MAX(e2.stream_pos) FROM events e2 WHERE e2.room_id = e.room_id AND e2.type = e.type
			AND e2.state_key = e.state_key AND e2.stream_pos <= $2)
		ORDER BY e.stream_pos`, string(roomID), int64(pos))
}

// StateAt returns the state after pos (0: current state).
func (s *Service) StateAt(ctx context.Context, roomID id.RoomID, pos stream.Position) ([]*Event, error) {
	return stateAt(ctx, s.db.Read, roomID, pos)
}

// visibleStatePos is the position whose state the user may see: now when
// joined (or the room is world readable), else the moment they left.
func (v *viewer) visibleStatePos() stream.Position {
	if v.current() == "join" || len(v.memberships) == 0 {
		return 0
	}
	return v.memberships[len(v.memberships)-1].pos
}

// State returns the room state the user may see (spec: GET /rooms/{roomId}/state).
func (s *Service) State(ctx context.Context, user id.UserID, roomID id.RoomID) ([]*Event, error) {
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	if c := v.current(); c == "invite" || c == "knock" {
		return nil, errNotInRoom
	}
	return stateAt(ctx, s.db.Read, roomID, v.visibleStatePos())
}

// StateEvent returns one state event the user may see
// (spec: GET /rooms/{roomId}/state/{eventType}/{stateKey}).
func (s *Service) StateEvent(ctx context.Context, user id.UserID, roomID id.RoomID, evType, stateKey string) (*Event, error) {
	state, err := s.State(ctx, user, roomID)
	if err != nil {
		return nil, err
	}
	for _, e := range state {
		if e.Type == evType && *e.StateKey == stateKey {
			return e, nil
		}
	}
	return nil, mautrix.MNotFound.WithMessage("Event not found")
}

// Members returns member events (spec: GET /rooms/{roomId}/members): at a
// pagination token when at > 0, filtered by membership / not_membership.
func (s *Service) Members(ctx context.Context, user id.UserID, roomID id.RoomID, at stream.Position, membership, notMembership string) ([]*Event, error) {
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	pos := v.visibleStatePos()
	if at > 0 && (pos == 0 || at < pos) {
		pos = at
	}
	state, err := stateAt(ctx, s.db.Read, roomID, pos)
	if err != nil {
		return nil, err
	}
	out := []*Event{}
	for _, e := range state {
		if e.Type != "m.room.member" {
			continue
		}
		if membership != "" && e.Membership != membership {
			continue
		}
		if notMembership != "" && e.Membership == notMembership {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// Event returns one event if the user may see it (spec: GET /rooms/{roomId}/event/{eventId}).
func (s *Service) Event(ctx context.Context, user id.UserID, roomID id.RoomID, eid id.EventID) (*Event, error) {
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	e, err := s.eventInRoom(ctx, roomID, eid)
	if err != nil {
		return nil, err
	}
	if !v.canSee(e) {
		return nil, mautrix.MNotFound.WithMessage("Event not found")
	}
	return e, nil
}

// Page is a page of room history.
type Page struct {
	Events []*Event
	// Start and End are pagination tokens (stream positions).
	Start, End stream.Position
	// More reports that End can be paginated from.
	More bool
}

// EventFilter is the part of a RoomEventFilter applied to history reads.
type EventFilter struct {
	Types, NotTypes     []string
	Senders, NotSenders []id.UserID
	ContainsURL         *bool
}

// Match reports whether e passes the filter.
func (f *EventFilter) Match(e *Event) bool {
	if f == nil {
		return true
	}
	if len(f.NotTypes) > 0 && matchType(f.NotTypes, e.Type) {
		return false
	}
	if len(f.Types) > 0 && !matchType(f.Types, e.Type) {
		return false
	}
	for _, s := range f.NotSenders {
		if s == e.Sender {
			return false
		}
	}
	if len(f.Senders) > 0 {
		found := false
		for _, s := range f.Senders {
			if s == e.Sender {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	if f.ContainsURL != nil {
		has := len(e.PDU.Content) > 0 && containsURL(e.PDU.Content)
		if has != *f.ContainsURL {
			return false
		}
	}
	return true
}

// matchType matches an event type against filter patterns with a trailing *.
func matchType(patterns []string, t string) bool {
	for _, p := range patterns {
		if p == t || p == "*" {
			return true
		}
		if n := len(p); n > 0 && p[n-1] == '*' && len(t) >= n-1 && t[:n-1] == p[:n-1] {
			return true
		}
	}
	return false
}

// Messages pages through a room's history (spec: GET /rooms/{roomId}/messages).
// Tokens are stream positions: paginating backwards from P returns events
// at or below P, forwards returns events above P. to bounds the page.
func (s *Service) Messages(ctx context.Context, user id.UserID, roomID id.RoomID, from stream.Position, to *stream.Position, backwards bool, limit int, filter *EventFilter) (*Page, error) {
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	if limit > 1000 {
		limit = 1000
	}
	page := &Page{Start: from, End: from}
	cursor := from
	for len(page.Events) < limit {
		batch := limit * 2
		var evs []*Event
		if backwards {
			evs, err = queryEvents(ctx, s.db.Read, `SELECT `+eventColumns+` FROM events WHERE room_id = $1 AND stream_pos <= $2
				ORDER BY stream_pos DESC LIMIT $3`, string(roomID), int64(cursor), batch)
		} else {
			evs, err = queryEvents(ctx, s.db.Read, `SELECT `+eventColumns+` FROM events WHERE room_id = $1 AND stream_pos > $2
				ORDER BY stream_pos ASC LIMIT $3`, string(roomID), int64(cursor), batch)
		}
		if err != nil {
			return nil, fmt.Errorf("messages: %w", err)
		}
		rest := 0 // events of this batch left unread once the page is full
		for i, e := range evs {
			if to != nil && ((backwards && e.Pos <= *to) || (!backwards && e.Pos > *to)) {
				return page, nil
			}
			if backwards {
				cursor = e.Pos - 1
			} else {
				cursor = e.Pos
			}
			page.End = cursor
			if v.canSee(e) && filter.Match(e) {
				page.Events = append(page.Events, e)
				if len(page.Events) == limit {
					rest = len(evs) - i - 1
					break
				}
			}
		}
		if len(evs) < batch && rest == 0 {
			return page, nil
		}
	}
	page.More = true
	return page, nil
}

// Context returns an event with events before and after it and the state
// at it (spec: GET /rooms/{roomId}/context/{eventId}).
func (s *Service) Context(ctx context.Context, user id.UserID, roomID id.RoomID, eid id.EventID, limit int, filter *EventFilter) (before, after *Page, target *Event, state []*Event, err error) {
	target, err = s.Event(ctx, user, roomID, eid)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if limit < 0 {
		limit = 0
	}
	nb := limit / 2
	na := limit - nb
	before, after = &Page{Start: target.Pos - 1, End: target.Pos - 1}, &Page{Start: target.Pos, End: target.Pos}
	if nb > 0 {
		if before, err = s.Messages(ctx, user, roomID, target.Pos-1, nil, true, nb, filter); err != nil {
			return
		}
	}
	if na > 0 {
		if after, err = s.Messages(ctx, user, roomID, target.Pos, nil, false, na, filter); err != nil {
			return
		}
	}
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return
	}
	pos := after.End
	if vp := v.visibleStatePos(); vp > 0 && vp < pos {
		pos = vp
	}
	state, err = stateAt(ctx, s.db.Read, roomID, pos)
	return
}

// Relations lists events relating to an event (spec: GET /rooms/{roomId}/relations/{eventId}).
func (s *Service) Relations(ctx context.Context, user id.UserID, roomID id.RoomID, parent id.EventID, relType, evType string, from stream.Position, backwards bool, limit int) (*Page, error) {
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	p, err := s.eventInRoom(ctx, roomID, parent)
	if err != nil {
		return nil, err
	}
	if !v.canSee(p) {
		return nil, mautrix.MNotFound.WithMessage("Event not found")
	}
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	q := `SELECT ` + eventColumns + ` FROM events WHERE room_id = $1 AND relates_to = $2`
	args := []any{string(roomID), string(parent)}
	if relType != "" {
		args = append(args, relType)
		q += fmt.Sprintf(" AND rel_type = $%d", len(args))
	}
	if evType != "" {
		args = append(args, evType)
		q += fmt.Sprintf(" AND type = $%d", len(args))
	}
	if from > 0 {
		args = append(args, int64(from))
		if backwards {
			q += fmt.Sprintf(" AND stream_pos <= $%d", len(args))
		} else {
			q += fmt.Sprintf(" AND stream_pos > $%d", len(args))
		}
	}
	if backwards {
		q += " ORDER BY stream_pos DESC"
	} else {
		q += " ORDER BY stream_pos ASC"
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(" LIMIT $%d", len(args))
	evs, err := queryEvents(ctx, s.db.Read, q, args...)
	if err != nil {
		return nil, err
	}
	page := &Page{Start: from}
	if len(evs) > limit {
		evs = evs[:limit]
		page.More = true
	}
	if n := len(evs); n > 0 {
		if backwards {
			page.End = evs[n-1].Pos - 1
		} else {
			page.End = evs[n-1].Pos
		}
	}
	page.Events = v.filter(evs)
	return page, nil
}

// Timeline returns up to limit of the latest events the user may see with
// since < pos <= upto, oldest first, and whether older ones were left out.
func (s *Service) Timeline(ctx context.Context, user id.UserID, roomID id.RoomID, since, upto stream.Position, limit int, filter *EventFilter) ([]*Event, bool, error) {
	v, err := s.loadViewer(ctx, roomID, user)
	if err != nil {
		return nil, false, err
	}
	if limit <= 0 {
		return nil, true, nil
	}
	var out []*Event
	cursor := upto
	limited := false
	for {
		batch := limit + 1
		evs, err := queryEvents(ctx, s.db.Read, `SELECT `+eventColumns+` FROM events WHERE room_id = $1 AND stream_pos > $2
			AND stream_pos <= $3 ORDER BY stream_pos DESC LIMIT $4`, string(roomID), int64(since), int64(cursor), batch)
		if err != nil {
			return nil, false, fmt.Errorf("timeline: %w", err)
		}
		for _, e := range evs {
			cursor = e.Pos - 1
			if !v.canSee(e) || !filter.Match(e) {
				continue
			}
			if len(out) == limit {
				limited = true
				break
			}
			out = append(out, e)
		}
		if limited || len(evs) < batch {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, limited, nil
}

// MatchType applies only the type patterns of the filter (for account data
// and ephemeral events, which have no sender in the room's sense).
func (f *EventFilter) MatchType(t string) bool {
	if f == nil {
		return true
	}
	if len(f.NotTypes) > 0 && matchType(f.NotTypes, t) {
		return false
	}
	return len(f.Types) == 0 || matchType(f.Types, t)
}

// MemberSummary is a room's member counts and heroes (spec: /sync RoomSummary).
type MemberSummary struct {
	Joined, Invited int
	Heroes          []id.UserID
}

// Summary counts a room's joined and invited members and names up to five
// others, for clients to name unnamed rooms.
func (s *Service) Summary(ctx context.Context, roomID id.RoomID, viewer id.UserID) (MemberSummary, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT state_key, membership FROM current_state WHERE room_id = $1
		AND type = 'm.room.member' ORDER BY stream_pos`, string(roomID))
	if err != nil {
		return MemberSummary{}, err
	}
	defer rows.Close()
	var sum MemberSummary
	var left []id.UserID
	for rows.Next() {
		var u, m string
		if err := rows.Scan(&u, &m); err != nil {
			return sum, err
		}
		switch m {
		case "join":
			sum.Joined++
		case "invite":
			sum.Invited++
		}
		if id.UserID(u) == viewer {
			continue
		}
		if (m == "join" || m == "invite") && len(sum.Heroes) < 5 {
			sum.Heroes = append(sum.Heroes, id.UserID(u))
		} else if m == "leave" || m == "ban" {
			left = append(left, id.UserID(u))
		}
	}
	if len(sum.Heroes) == 0 {
		sum.Heroes = left[:min(len(left), 5)]
	}
	return sum, rows.Err()
}

// InviteState is the stripped state shown with an invite: the room's
// name, avatar, join rules, canonical alias, encryption, create event and
// the invite itself (spec: "Stripped state").
func (s *Service) InviteState(ctx context.Context, roomID id.RoomID, user id.UserID) ([]StrippedState, error) {
	state, err := stateAt(ctx, s.db.Read, roomID, 0)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{"m.room.create": true, "m.room.name": true, "m.room.avatar": true, "m.room.topic": true,
		"m.room.join_rules": true, "m.room.canonical_alias": true, "m.room.encryption": true}
	var out []StrippedState
	var inviter id.UserID
	for _, e := range state {
		if e.Type == "m.room.member" && *e.StateKey == string(user) {
			inviter = e.Sender
			out = append(out, e.Stripped())
		} else if wanted[e.Type] && *e.StateKey == "" {
			out = append(out, e.Stripped())
		}
	}
	for _, e := range state {
		if e.Type == "m.room.member" && id.UserID(*e.StateKey) == inviter && inviter != user {
			out = append(out, e.Stripped())
		}
	}
	return out, nil
}

// RoomsWithEvents lists the rooms that have events with since < pos <= upto.
func (s *Service) RoomsWithEvents(ctx context.Context, since, upto stream.Position) (map[id.RoomID]bool, error) {
	return distinctRooms(ctx, s.db.Read, `SELECT DISTINCT room_id FROM events WHERE stream_pos > $1 AND stream_pos <= $2`, since, upto)
}

// RoomsWithReceipts lists the rooms that have receipts with since < pos <= upto.
func (s *Service) RoomsWithReceipts(ctx context.Context, since, upto stream.Position) (map[id.RoomID]bool, error) {
	return distinctRooms(ctx, s.db.Read, `SELECT DISTINCT room_id FROM receipts WHERE stream_pos > $1 AND stream_pos <= $2`, since, upto)
}

func distinctRooms(ctx context.Context, q db.Querier, query string, since, upto stream.Position) (map[id.RoomID]bool, error) {
	out := map[id.RoomID]bool{}
	if since >= upto {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, query, int64(since), int64(upto))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out[id.RoomID(r)] = true
	}
	return out, rows.Err()
}
