package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CreateRoom creates a room with the given preset, inviting invite.
func (c *Client) CreateRoom(ctx context.Context, preset string, direct bool, invite ...string) (string, error) {
	body := map[string]any{"preset": preset}
	if direct {
		body["is_direct"] = true
	}
	if len(invite) > 0 {
		body["invite"] = invite
	}
	var out struct {
		RoomID string `json:"room_id"`
	}
	if _, err := c.Do(ctx, http.MethodPost, clientV3+"/createRoom", nil, body, &out); err != nil {
		return "", fmt.Errorf("createRoom by %s: %w", c.UserID, err)
	}
	return out.RoomID, nil
}

// Join joins a room by id.
func (c *Client) Join(ctx context.Context, roomID string) error {
	if _, err := c.Do(ctx, http.MethodPost, clientV3+"/rooms/"+url.PathEscape(roomID)+"/join", nil, map[string]any{}, nil); err != nil {
		return fmt.Errorf("%s joins %s: %w", c.UserID, roomID, err)
	}
	return nil
}

// BodyPrefix starts the body of every message the load generator sends;
// the message's unique id follows it.
const BodyPrefix = "ward-bench "

// SendText sends an m.text message whose body carries msgID; the
// transaction id is msgID too, so a retry never makes a second event.
func (c *Client) SendText(ctx context.Context, roomID, msgID string) error {
	path := clientV3 + "/rooms/" + url.PathEscape(roomID) + "/send/m.room.message/" + url.PathEscape(msgID)
	body := map[string]any{"msgtype": "m.text", "body": BodyPrefix + msgID}
	if _, err := c.Do(ctx, http.MethodPut, path, nil, body, nil); err != nil {
		return fmt.Errorf("send %s: %w", msgID, err)
	}
	return nil
}

// Event is the part of a client event the load generator reads.
type Event struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Sender  string `json:"sender"`
	Content struct {
		Body string `json:"body"`
	} `json:"content"`
}

// MessageID is the unique id a load-generator message carries, or "".
func (e Event) MessageID() string {
	if e.Type != "m.room.message" {
		return ""
	}
	id, ok := strings.CutPrefix(e.Content.Body, BodyPrefix)
	if !ok {
		return ""
	}
	return id
}

// SyncResponse is the part of a /sync answer the load generator reads.
type SyncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events    []Event `json:"events"`
				Limited   bool    `json:"limited"`
				PrevBatch string  `json:"prev_batch"`
			} `json:"timeline"`
		} `json:"join"`
		Invite map[string]any `json:"invite"`
	} `json:"rooms"`
}

// Sync calls /sync once and returns the answer and its size in bytes.
func (c *Client) Sync(ctx context.Context, since, filter string, timeout time.Duration) (*SyncResponse, int, error) {
	q := url.Values{"timeout": {strconv.FormatInt(timeout.Milliseconds(), 10)}}
	if since != "" {
		q.Set("since", since)
	}
	if filter != "" {
		q.Set("filter", filter)
	}
	var out SyncResponse
	n, err := c.Do(ctx, http.MethodGet, clientV3+"/sync", q, nil, &out)
	if err != nil {
		return nil, n, fmt.Errorf("sync of %s: %w", c.UserID, err)
	}
	return &out, n, nil
}

// Backfill pages /messages backwards from from down to the token to
// (normally the since token of the sync whose timeline was limited) and
// returns the events on the way, newest first.
func (c *Client) Backfill(ctx context.Context, roomID, from, to string) ([]Event, error) {
	var all []Event
	for range 1000 {
		q := url.Values{"from": {from}, "dir": {"b"}, "limit": {"100"}}
		if to != "" {
			q.Set("to", to)
		}
		var page struct {
			Chunk []Event `json:"chunk"`
			End   string  `json:"end"`
		}
		if _, err := c.Do(ctx, http.MethodGet, clientV3+"/rooms/"+url.PathEscape(roomID)+"/messages", q, nil, &page); err != nil {
			return all, fmt.Errorf("messages of %s: %w", c.UserID, err)
		}
		all = append(all, page.Chunk...)
		if len(page.Chunk) == 0 || page.End == "" || page.End == from {
			return all, nil
		}
		from = page.End
	}
	return all, fmt.Errorf("messages of %s: more than 1000 pages", c.UserID)
}

// Syncer long-polls /sync for one user and hands every load-generator
// message it receives to Seen, paging back through /messages when a
// timeline comes back limited, so that nothing between two syncs is
// skipped.
type Syncer struct {
	Client *Client
	Since  string
	// Seen is called for every message with a MessageID, in the order
	// received, with the time it arrived.
	Seen func(roomID, msgID string, at time.Time)
	// Errors counts failed sync or /messages requests.
	Errors int
}

// Prime does the first (non-waiting) sync, so that Run only sees what
// happens after it.
func (s *Syncer) Prime(ctx context.Context) error {
	r, _, err := s.Client.Sync(ctx, "", `{"room":{"timeline":{"limit":1}}}`, 0)
	if err != nil {
		return err
	}
	s.Since = r.NextBatch
	return nil
}

// Run long-polls until ctx ends.
func (s *Syncer) Run(ctx context.Context, poll time.Duration) {
	for ctx.Err() == nil {
		r, _, err := s.Client.Sync(ctx, s.Since, "", poll)
		if err != nil {
			if ctx.Err() == nil {
				s.Errors++
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		at := time.Now()
		for roomID, jr := range r.Rooms.Join {
			if jr.Timeline.Limited && jr.Timeline.PrevBatch != "" {
				evs, err := s.Client.Backfill(ctx, roomID, jr.Timeline.PrevBatch, s.Since)
				if err != nil && ctx.Err() == nil {
					s.Errors++
				}
				// Oldest first, as they happened; they arrived with this sync.
				for i := len(evs) - 1; i >= 0; i-- {
					if id := evs[i].MessageID(); id != "" {
						s.Seen(roomID, id, at)
					}
				}
			}
			for _, e := range jr.Timeline.Events {
				if id := e.MessageID(); id != "" {
					s.Seen(roomID, id, at)
				}
			}
		}
		s.Since = r.NextBatch
	}
}
