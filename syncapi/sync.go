package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/id"

	"ward/e2ee"
	"ward/internal/stream"
	"ward/rooms"
)

// Request is a /sync request (spec: GET /_matrix/client/v3/sync).
type Request struct {
	User      id.UserID
	Device    id.DeviceID
	Since     *Token
	Filter    *Filter
	FullState bool
	Timeout   time.Duration
}

// Response is the /sync response body.
type Response struct {
	NextBatch   string    `json:"next_batch"`
	Rooms       RoomsPart `json:"rooms"`
	AccountData EventList `json:"account_data"`
	Presence    EventList `json:"presence"`
	ToDevice    EventList `json:"to_device"`
	DeviceLists struct {
		Changed []id.UserID `json:"changed"`
		Left    []id.UserID `json:"left"`
	} `json:"device_lists"`
	DeviceOneTimeKeysCount        map[string]int `json:"device_one_time_keys_count"`
	DeviceUnusedFallbackKeyTypes  []string       `json:"device_unused_fallback_key_types"`
	OrgMatrixMSC2732FallbackTypes []string       `json:"org.matrix.msc2732.device_unused_fallback_key_types"`
}

// EventList is a list of events under an "events" key.
type EventList struct {
	Events []any `json:"events"`
}

// RoomsPart groups rooms by the user's membership.
type RoomsPart struct {
	Join   map[id.RoomID]*JoinedRoom  `json:"join"`
	Invite map[id.RoomID]*InvitedRoom `json:"invite"`
	Leave  map[id.RoomID]*LeftRoom    `json:"leave"`
}

// Timeline is a room's timeline section.
type Timeline struct {
	Events    []rooms.ClientEvent `json:"events"`
	Limited   bool                `json:"limited"`
	PrevBatch string              `json:"prev_batch,omitempty"`
}

// StateList is a room's state section.
type StateList struct {
	Events []rooms.ClientEvent `json:"events"`
}

// Summary is a room's member summary.
type Summary struct {
	Heroes  []id.UserID `json:"m.heroes,omitempty"`
	Joined  *int        `json:"m.joined_member_count,omitempty"`
	Invited *int        `json:"m.invited_member_count,omitempty"`
}

// UnreadNotifications are a room's notification counts.
type UnreadNotifications struct {
	HighlightCount    int `json:"highlight_count"`
	NotificationCount int `json:"notification_count"`
}

// JoinedRoom is a room the user is joined to.
type JoinedRoom struct {
	Summary             Summary             `json:"summary"`
	State               StateList           `json:"state"`
	Timeline            Timeline            `json:"timeline"`
	Ephemeral           EventList           `json:"ephemeral"`
	AccountData         EventList           `json:"account_data"`
	UnreadNotifications UnreadNotifications `json:"unread_notifications"`
}

// InvitedRoom is a room the user is invited to.
type InvitedRoom struct {
	InviteState struct {
		Events []rooms.StrippedState `json:"events"`
	} `json:"invite_state"`
}

// LeftRoom is a room the user left or was removed from.
type LeftRoom struct {
	State       StateList `json:"state"`
	Timeline    Timeline  `json:"timeline"`
	AccountData EventList `json:"account_data"`
}

func newResponse() *Response {
	r := &Response{
		Rooms: RoomsPart{
			Join:   map[id.RoomID]*JoinedRoom{},
			Invite: map[id.RoomID]*InvitedRoom{},
			Leave:  map[id.RoomID]*LeftRoom{},
		},
		AccountData:                  EventList{Events: []any{}},
		Presence:                     EventList{Events: []any{}},
		ToDevice:                     EventList{Events: []any{}},
		DeviceOneTimeKeysCount:       map[string]int{},
		DeviceUnusedFallbackKeyTypes: []string{},
	}
	r.DeviceLists.Changed = []id.UserID{}
	r.DeviceLists.Left = []id.UserID{}
	return r
}

// empty reports whether an incremental response carries nothing.
func (r *Response) empty() bool {
	return len(r.Rooms.Join) == 0 && len(r.Rooms.Invite) == 0 && len(r.Rooms.Leave) == 0 &&
		len(r.AccountData.Events) == 0 && len(r.ToDevice.Events) == 0 &&
		len(r.DeviceLists.Changed) == 0 && len(r.DeviceLists.Left) == 0
}

// Sync answers one /sync. An incremental sync with nothing new waits (up to
// req.Timeout) for a write that concerns the user. The same since token
// always yields the same events, so a client whose response was lost
// repeats the request and loses nothing; next_batch covers exactly what the
// response contains, so nothing is delivered twice.
func (s *Service) Sync(ctx context.Context, req Request) (*Response, error) {
	deadline := time.Now().Add(req.Timeout)
	for {
		// Listen before reading, so a write between the read and the wait
		// still wakes us.
		woken, cancel := s.notifier.Listen(string(req.User))
		resp, err := s.build(ctx, req)
		if err != nil || req.Since == nil || !resp.empty() || req.Timeout <= 0 {
			cancel()
			return resp, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			cancel()
			return resp, nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-woken:
			timer.Stop()
			continue
		case <-timer.C:
			cancel()
			return resp, nil
		case <-ctx.Done():
			timer.Stop()
			cancel()
			return nil, ctx.Err()
		case <-s.stopping:
			timer.Stop()
			cancel()
			return resp, nil
		}
	}
}

// build assembles the response for the positions committed now.
func (s *Service) build(ctx context.Context, req Request) (*Response, error) {
	upto, err := s.rooms.LatestPosition(ctx)
	if err != nil {
		return nil, err
	}
	return s.buildUpTo(ctx, req, upto)
}

// buildUpTo assembles the response for the positions up to upto. Every
// read below is bounded by upto, the user's memberships included: writes
// that commit while the response is built belong to the next one.
func (s *Service) buildUpTo(ctx context.Context, req Request, upto stream.Position) (*Response, error) {
	next := Token{Pos: upto, Typing: s.rooms.TypingSerial()}
	resp := newResponse()
	resp.NextBatch = next.String()
	var since Token
	if req.Since != nil {
		since = *req.Since
		if since.Pos > upto {
			// A token from the future (say, after a database restore):
			// treat it as now rather than skipping what comes next.
			since.Pos = upto
		}
		if since.Typing > next.Typing {
			// Typing lives in memory and restarts from 0 with the server.
			since.Typing = next.Typing
		}
	}
	initial := req.Since == nil
	f := req.Filter
	fmtr := s.rooms.NewFormatter(req.User, req.Device)

	memberships, err := s.rooms.RoomsAt(ctx, req.User, upto)
	if err != nil {
		return nil, err
	}
	var changes map[id.RoomID]rooms.MembershipChange
	var eventRooms, receiptRooms map[id.RoomID]bool
	if !initial {
		list, err := s.rooms.MembershipChanges(ctx, req.User, int64(since.Pos), int64(upto))
		if err != nil {
			return nil, err
		}
		changes = make(map[id.RoomID]rooms.MembershipChange, len(list))
		for _, c := range list {
			changes[c.RoomID] = c
		}
		if eventRooms, err = s.rooms.RoomsWithEvents(ctx, since.Pos, upto); err != nil {
			return nil, err
		}
		if receiptRooms, err = s.rooms.RoomsWithReceipts(ctx, since.Pos, upto); err != nil {
			return nil, err
		}
	}

	// Account data, global and per room.
	ad, err := s.accounts.AccountDataSince(ctx, req.User, since.Pos, upto)
	if err != nil {
		return nil, err
	}
	roomAD := map[id.RoomID][]any{}
	globalFilter := f.AccountData()
	for _, a := range ad {
		ev := map[string]any{"type": a.Type, "content": json.RawMessage(a.Content)}
		if a.RoomID == "" {
			if globalFilter.MatchType(a.Type) {
				resp.AccountData.Events = append(resp.AccountData.Events, ev)
			}
			continue
		}
		if rf, ok := f.RoomAccountData(a.RoomID); ok && rf.MatchType(a.Type) {
			roomAD[a.RoomID] = append(roomAD[a.RoomID], ev)
		}
	}

	// Joined rooms are independent of each other and cost several queries
	// each: they are built concurrently (each with its own formatter), and
	// put into the response in one place afterwards.
	var joined []joinedWork
	for _, m := range memberships {
		if !f.RoomAllowed(m.RoomID) {
			continue
		}
		change, changed := changes[m.RoomID]
		switch m.Membership {
		case "join":
			newlyJoined := changed && change.Membership == "join" && !s.wasJoinedAt(ctx, req.User, m.RoomID, since.Pos)
			w := joinedWork{roomID: m.RoomID, full: initial || req.FullState || newlyJoined, newlyJoined: newlyJoined}
			w.typing, w.typingChanged = s.rooms.Typing(m.RoomID, since.Typing)
			if !w.full && !eventRooms[m.RoomID] && !receiptRooms[m.RoomID] && len(roomAD[m.RoomID]) == 0 && !w.typingChanged {
				continue
			}
			w.receipts = initial || receiptRooms[m.RoomID]
			joined = append(joined, w)
		case "invite":
			if !initial && !changed {
				continue
			}
			state, err := s.rooms.InviteState(ctx, m.RoomID, req.User)
			if err != nil {
				return nil, err
			}
			ir := &InvitedRoom{}
			ir.InviteState.Events = state
			resp.Rooms.Invite[m.RoomID] = ir
		case "leave", "ban":
			if initial && !f.IncludeLeave() {
				continue
			}
			if !initial && !changed {
				continue
			}
			if forgotten, err := s.rooms.IsForgotten(ctx, req.User, m.RoomID); err != nil {
				return nil, err
			} else if forgotten {
				continue
			}
			lr, err := s.leftRoom(ctx, req, fmtr, m, since, initial)
			if err != nil {
				return nil, err
			}
			if ad := roomAD[m.RoomID]; len(ad) > 0 {
				lr.AccountData.Events = ad
			}
			resp.Rooms.Leave[m.RoomID] = lr
		}
	}
	if err := s.buildJoined(ctx, req, joined, roomAD, since, upto); err != nil {
		return nil, err
	}
	for _, w := range joined {
		if w.section != nil {
			resp.Rooms.Join[w.roomID] = w.section
		}
	}
	if err := s.addE2EE(ctx, req, resp, since.Pos, upto); err != nil {
		return nil, err
	}
	return resp, nil
}

// joinedWork is one joined room a response needs: what decides its
// section, and the section once built (nil when it turned out empty).
type joinedWork struct {
	roomID id.RoomID
	full   bool
	// newlyJoined: the user joined since the last sync, so the room is
	// synced as in an initial sync, timeline included.
	newlyJoined   bool
	typing        []id.UserID
	typingChanged bool
	receipts      bool
	section       *JoinedRoom
}

// syncRoomWorkers bounds how many rooms of one response are built at once:
// enough to overlap PostgreSQL's round trips, few enough to leave the read
// pool to other requests.
const syncRoomWorkers = 6

// buildJoined builds the sections of work concurrently; the first error
// ends the response.
func (s *Service) buildJoined(ctx context.Context, req Request, work []joinedWork, roomAD map[id.RoomID][]any, since Token, upto stream.Position) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		next     atomic.Int64
	)
	workers := min(syncRoomWorkers, len(work))
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(work) || ctx.Err() != nil {
					return
				}
				w := &work[i]
				jr, err := s.joinedSection(ctx, req, w, roomAD[w.roomID], since, upto)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("sync room %s: %w", w.roomID, err); cancel() })
					return
				}
				w.section = jr
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// joinedSection builds one joined room's whole section: timeline, state,
// typing, receipts and room account data; nil when an incremental sync
// has nothing to say of the room.
func (s *Service) joinedSection(ctx context.Context, req Request, w *joinedWork, ad []any, since Token, upto stream.Position) (*JoinedRoom, error) {
	f := req.Filter
	jr, err := s.joinedRoom(ctx, req, s.rooms.NewFormatter(req.User, req.Device), w.roomID, since, upto, w.full, w.newlyJoined)
	if err != nil {
		return nil, err
	}
	if ef, ok := f.Ephemeral(w.roomID); ok {
		initial := req.Since == nil
		if (w.typingChanged || initial) && ef.MatchType("m.typing") {
			typing := w.typing
			if typing == nil {
				typing = []id.UserID{}
			}
			if w.typingChanged || len(typing) > 0 {
				jr.Ephemeral.Events = append(jr.Ephemeral.Events, map[string]any{
					"type": "m.typing", "content": map[string]any{"user_ids": typing}})
			}
		}
		if w.receipts && ef.MatchType("m.receipt") {
			rc, err := s.rooms.ReceiptsSince(ctx, req.User, w.roomID, since.Pos, upto)
			if err != nil {
				return nil, err
			}
			if rc != nil {
				jr.Ephemeral.Events = append(jr.Ephemeral.Events, map[string]any{"type": "m.receipt", "content": rc})
			}
		}
	}
	if len(ad) > 0 {
		jr.AccountData.Events = ad
	}
	if !w.full && len(jr.Timeline.Events) == 0 && len(jr.State.Events) == 0 && len(jr.Ephemeral.Events) == 0 &&
		len(jr.AccountData.Events) == 0 {
		return nil, nil
	}
	return jr, nil
}

// E2EESource is what /sync needs from e2ee.
type E2EESource interface {
	SyncData(ctx context.Context, user id.UserID, device id.DeviceID, since, upto stream.Position, initial bool) (*e2ee.SyncData, error)
}

// addE2EE fills to_device, device_lists and the key counts. To-device
// messages beyond e2ee.MaxToDevicePerSync stay queued and come in the next
// responses; next_batch needs no cap for them (see e2ee.Service.SyncData).
func (s *Service) addE2EE(ctx context.Context, req Request, resp *Response, since, upto stream.Position) error {
	if s.E2EE == nil {
		return nil
	}
	d, err := s.E2EE.SyncData(ctx, req.User, req.Device, since, upto, req.Since == nil)
	if err != nil {
		return err
	}
	for _, ev := range d.ToDevice {
		resp.ToDevice.Events = append(resp.ToDevice.Events, ev)
	}
	resp.DeviceLists.Changed = d.DeviceListsChanged
	resp.DeviceLists.Left = d.DeviceListsLeft
	resp.DeviceOneTimeKeysCount = d.OneTimeKeyCounts
	resp.DeviceUnusedFallbackKeyTypes = d.UnusedFallbackKeyTypes
	resp.OrgMatrixMSC2732FallbackTypes = d.UnusedFallbackKeyTypes
	return nil
}

// wasJoinedAt reports whether the user was joined to the room at pos.
func (s *Service) wasJoinedAt(ctx context.Context, user id.UserID, roomID id.RoomID, pos stream.Position) bool {
	if pos == 0 {
		return false
	}
	state, err := s.rooms.MembershipAt(ctx, user, roomID, pos)
	return err == nil && state == "join"
}

// joinedRoom builds one joined room's section. full gives the whole state;
// newlyJoined takes the timeline from the room's start rather than since,
// which a room newly joined needs as much as an initial sync does (the
// events the user missed while away are otherwise skipped, not limited).
// full_state=true on a room already joined keeps a since-based timeline.
func (s *Service) joinedRoom(ctx context.Context, req Request, fmtr *rooms.Formatter, roomID id.RoomID, since Token, upto stream.Position, full, newlyJoined bool) (*JoinedRoom, error) {
	f := req.Filter
	jr := &JoinedRoom{
		State:       StateList{Events: []rooms.ClientEvent{}},
		Ephemeral:   EventList{Events: []any{}},
		AccountData: EventList{Events: []any{}},
	}
	tf, tok := f.Timeline(roomID)
	limit := f.TimelineLimit()
	if !tok {
		limit = 0
	}
	from := since.Pos
	if req.Since == nil || newlyJoined {
		from = 0
	}
	timeline, limited, err := s.rooms.Timeline(ctx, req.User, roomID, from, upto, limit, tf)
	if err != nil {
		return nil, err
	}
	start := upto
	if len(timeline) > 0 {
		start = timeline[0].Pos - 1
	}
	jr.Timeline.Limited = limited
	jr.Timeline.PrevBatch = Token{Pos: start, Typing: since.Typing}.String()

	// State: what the timeline does not show, as of its start.
	senders := lazySenders(f.LazyLoadMembers(), timeline)
	var state []*rooms.Event
	if full || limited || len(senders) > 0 {
		all, err := s.rooms.StateAt(ctx, roomID, start)
		if err != nil {
			return nil, err
		}
		for _, e := range all {
			if full || e.Pos > since.Pos || isMemberOf(e, senders) {
				state = append(state, e)
			}
		}
	}
	state = s.filterState(req, roomID, state, timeline)
	if jr.Timeline.Events, err = fmtr.Format(ctx, timeline); err != nil {
		return nil, err
	}
	if jr.State.Events, err = fmtr.Format(ctx, state); err != nil {
		return nil, err
	}
	if full || hasMemberEvent(timeline) || hasMemberEvent(state) {
		sum, err := s.rooms.Summary(ctx, roomID, req.User)
		if err != nil {
			return nil, err
		}
		jr.Summary = Summary{Heroes: sum.Heroes, Joined: &sum.Joined, Invited: &sum.Invited}
	}
	return jr, nil
}

// leftRoom builds the section of a room the user left: its timeline up to
// and including the leave, and nothing after it.
func (s *Service) leftRoom(ctx context.Context, req Request, fmtr *rooms.Formatter, m rooms.Membership, since Token, initial bool) (*LeftRoom, error) {
	lr := &LeftRoom{State: StateList{Events: []rooms.ClientEvent{}}, AccountData: EventList{Events: []any{}}}
	tf, tok := req.Filter.Timeline(m.RoomID)
	limit := req.Filter.TimelineLimit()
	if !tok {
		limit = 0
	}
	upto := stream.Position(m.Pos)
	timeline, limited, err := s.rooms.Timeline(ctx, req.User, m.RoomID, since.Pos, upto, limit, tf)
	if err != nil {
		return nil, err
	}
	start := upto
	if len(timeline) > 0 {
		start = timeline[0].Pos - 1
	}
	lr.Timeline.Limited = limited
	lr.Timeline.PrevBatch = Token{Pos: start, Typing: since.Typing}.String()
	senders := lazySenders(req.Filter.LazyLoadMembers(), timeline)
	var state []*rooms.Event
	if initial || limited || len(senders) > 0 {
		all, err := s.rooms.StateAt(ctx, m.RoomID, start)
		if err != nil {
			return nil, err
		}
		for _, e := range all {
			if initial || e.Pos > since.Pos || isMemberOf(e, senders) {
				state = append(state, e)
			}
		}
	}
	state = s.filterState(req, m.RoomID, state, timeline)
	if lr.Timeline.Events, err = fmtr.Format(ctx, timeline); err != nil {
		return nil, err
	}
	if lr.State.Events, err = fmtr.Format(ctx, state); err != nil {
		return nil, err
	}
	return lr, nil
}

// filterState applies the state filter and lazy loading of members: only
// the member events of the timeline's senders (and the user's own).
func (s *Service) filterState(req Request, roomID id.RoomID, state, timeline []*rooms.Event) []*rooms.Event {
	sf, ok := req.Filter.State(roomID)
	if !ok {
		return nil
	}
	lazy := req.Filter.LazyLoadMembers()
	senders := map[string]bool{string(req.User): true}
	inTimeline := map[id.EventID]bool{}
	for _, e := range timeline {
		senders[string(e.Sender)] = true
		inTimeline[e.ID] = true
	}
	out := make([]*rooms.Event, 0, len(state))
	for _, e := range state {
		if inTimeline[e.ID] || !sf.Match(e) {
			continue
		}
		if lazy && e.Type == "m.room.member" && !senders[*e.StateKey] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// lazySenders is, under lazy loading, the set of timeline senders whose
// member event the timeline does not carry itself: their membership goes
// into state whatever the since token, since the client may never have
// been sent it (spec: "Lazy-loading room members"). Sending it again when
// the client has it is a redundant member event, which the spec allows
// even with include_redundant_members false.
func lazySenders(lazy bool, timeline []*rooms.Event) map[string]bool {
	if !lazy || len(timeline) == 0 {
		return nil
	}
	senders := map[string]bool{}
	for _, e := range timeline {
		senders[string(e.Sender)] = true
	}
	for _, e := range timeline {
		if e.Type == "m.room.member" && e.StateKey != nil {
			delete(senders, *e.StateKey)
		}
	}
	return senders
}

func isMemberOf(e *rooms.Event, users map[string]bool) bool {
	return e.Type == "m.room.member" && e.StateKey != nil && users[*e.StateKey]
}

func hasMemberEvent(evs []*rooms.Event) bool {
	for _, e := range evs {
		if e.Type == "m.room.member" {
			return true
		}
	}
	return false
}
