package syncapi

import (
	"context"
	"encoding/json"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/rooms"
)

// Filter is the parsed sync filter (spec: client-server-api "Filtering").
type Filter struct {
	raw mautrix.Filter
}

// DefaultTimelineLimit is the number of timeline events per room when the
// filter does not say.
const DefaultTimelineLimit = 10

// LoadFilter reads the filter parameter of /sync: inline JSON (starting
// with "{") or the id of a stored filter.
func (s *Service) LoadFilter(ctx context.Context, user id.UserID, param string) (*Filter, error) {
	f := &Filter{}
	if param == "" {
		return f, nil
	}
	var raw []byte
	if strings.HasPrefix(strings.TrimSpace(param), "{") {
		raw = []byte(param)
	} else {
		stored, err := s.accounts.Filter(ctx, user, param)
		if err != nil {
			return nil, err
		}
		raw = stored
	}
	// The filter is a query parameter: a wrong one is M_INVALID_PARAM, as
	// for /messages. A stored filter passed the same check when created.
	if err := accounts.CheckFilter(raw); err != nil {
		return nil, accounts.FilterRespError(err, mautrix.MInvalidParam)
	}
	if err := json.Unmarshal(raw, &f.raw); err != nil {
		return nil, mautrix.MInvalidParam.WithMessage("Invalid filter: a field has the wrong type")
	}
	return f, nil
}

func (f *Filter) room() *mautrix.RoomFilter {
	if f == nil || f.raw.Room == nil {
		return &mautrix.RoomFilter{}
	}
	return f.raw.Room
}

// TimelineLimit is the timeline's per-room limit.
func (f *Filter) TimelineLimit() int {
	if t := f.room().Timeline; t != nil && t.Limit > 0 {
		return min(t.Limit, 500)
	}
	return DefaultTimelineLimit
}

// IncludeLeave reports whether initial syncs include left rooms.
func (f *Filter) IncludeLeave() bool { return f.room().IncludeLeave }

// LazyLoadMembers reports whether state holds only the members the
// timeline needs.
func (f *Filter) LazyLoadMembers() bool {
	st := f.room().State
	return st != nil && st.LazyLoadMembers
}

// RoomAllowed applies room.rooms and room.not_rooms.
func (f *Filter) RoomAllowed(r id.RoomID) bool {
	rf := f.room()
	return partAllowsRoom(&mautrix.FilterPart{Rooms: rf.Rooms, NotRooms: rf.NotRooms}, r)
}

func partAllowsRoom(p *mautrix.FilterPart, r id.RoomID) bool {
	if p == nil {
		return true
	}
	for _, nr := range p.NotRooms {
		if nr == r {
			return false
		}
	}
	if p.Rooms == nil {
		return true
	}
	for _, rr := range p.Rooms {
		if rr == r {
			return true
		}
	}
	return false
}

func toEventFilter(p *mautrix.FilterPart) *rooms.EventFilter {
	if p == nil {
		return nil
	}
	ef := &rooms.EventFilter{Senders: p.Senders, NotSenders: p.NotSenders, ContainsURL: p.ContainsURL}
	for _, t := range p.Types {
		ef.Types = append(ef.Types, t.Type)
	}
	for _, t := range p.NotTypes {
		ef.NotTypes = append(ef.NotTypes, t.Type)
	}
	if p.Types != nil && len(p.Types) == 0 {
		// An empty list of types means "no events" (spec: Filter types).
		ef.Types = []string{"\x00none"}
	}
	return ef
}

// Timeline is the room timeline's event filter.
func (f *Filter) Timeline(r id.RoomID) (*rooms.EventFilter, bool) {
	t := f.room().Timeline
	return toEventFilter(t), partAllowsRoom(t, r)
}

// State is the room state's event filter.
func (f *Filter) State(r id.RoomID) (*rooms.EventFilter, bool) {
	t := f.room().State
	return toEventFilter(t), partAllowsRoom(t, r)
}

// Ephemeral is the filter of typing and receipts.
func (f *Filter) Ephemeral(r id.RoomID) (*rooms.EventFilter, bool) {
	t := f.room().Ephemeral
	return toEventFilter(t), partAllowsRoom(t, r)
}

// RoomAccountData filters per-room account data.
func (f *Filter) RoomAccountData(r id.RoomID) (*rooms.EventFilter, bool) {
	t := f.room().AccountData
	return toEventFilter(t), partAllowsRoom(t, r)
}

// AccountData filters global account data.
func (f *Filter) AccountData() *rooms.EventFilter {
	if f == nil {
		return nil
	}
	return toEventFilter(f.raw.AccountData)
}
