package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Outcome is how an action ended.
type Outcome string

const (
	Allowed Outcome = "allowed"
	Denied  Outcome = "denied"
	Failed  Outcome = "failed"
)

// Entry is one line of the trail.
type Entry struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"`
	ActorUser   string    `json:"actor_user,omitempty"`
	ActorDevice string    `json:"actor_device,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty"`
	Action      string    `json:"action"`
	TargetUser  string    `json:"target_user,omitempty"`
	RoomID      string    `json:"room_id,omitempty"`
	EventID     string    `json:"event_id,omitempty"`
	EventType   string    `json:"event_type,omitempty"`
	MediaID     string    `json:"media_id,omitempty"`
	Team        string    `json:"team,omitempty"`
	// TokenID names a token (a prefix of its SHA-256), never the token.
	TokenID   string  `json:"token_id,omitempty"`
	Outcome   Outcome `json:"outcome"`
	Reason    string  `json:"reason,omitempty"`
	RequestID string  `json:"request_id,omitempty"`
	// Detail holds further identifiers and counts (never content).
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`

	// detail is Detail as stored; the hash covers these exact bytes.
	detail string
}

// MaxListedRecipients is how many members an event entry lists by name.
const MaxListedRecipients = 50

// TokenID names a token in the trail without revealing it: the first 16
// hex digits of its SHA-256.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// RecipientsDigest is the recipients_sha256 of an event entry: SHA-256 over
// the sorted member IDs, one per line.
func RecipientsDigest(members []string) string {
	s := append([]string(nil), members...)
	sort.Strings(s)
	sum := sha256.Sum256([]byte(strings.Join(s, "\n")))
	return hex.EncodeToString(sum[:])
}

// RecipientsDetail fills the Detail fields of an event entry from the
// room's joined members at that point (see the package documentation).
func RecipientsDetail(members []string, streamPos int64) map[string]string {
	d := map[string]string{
		"recipient_count":   strconv.Itoa(len(members)),
		"recipients_sha256": RecipientsDigest(members),
		"stream_pos":        strconv.FormatInt(streamPos, 10),
	}
	if len(members) <= MaxListedRecipients {
		s := append([]string(nil), members...)
		sort.Strings(s)
		d["recipients"] = strings.Join(s, ",")
	}
	return d
}

// encodeDetail is the stored form of Detail: a JSON object with sorted keys.
func encodeDetail(d map[string]string) string {
	if len(d) == 0 {
		return ""
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(clean(k, 200))
		vb, _ := json.Marshal(clean(d[k], 4000))
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

func decodeDetail(s string) map[string]string {
	if s == "" {
		return nil
	}
	var d map[string]string
	if json.Unmarshal([]byte(s), &d) != nil {
		return map[string]string{"unreadable": s}
	}
	return d
}

// clean makes s storable on both backends (valid UTF-8, no NUL) and bounds it.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func (e *Entry) normalise() {
	e.ActorUser = clean(e.ActorUser, 512)
	e.ActorDevice = clean(e.ActorDevice, 512)
	e.RemoteAddr = clean(e.RemoteAddr, 128)
	e.UserAgent = clean(e.UserAgent, 512)
	e.Action = clean(e.Action, 128)
	e.TargetUser = clean(e.TargetUser, 512)
	e.RoomID = clean(e.RoomID, 512)
	e.EventID = clean(e.EventID, 512)
	e.EventType = clean(e.EventType, 512)
	e.MediaID = clean(e.MediaID, 512)
	e.Team = clean(e.Team, 512)
	e.TokenID = clean(e.TokenID, 128)
	e.Outcome = Outcome(clean(string(e.Outcome), 32))
	e.Reason = clean(e.Reason, 2000)
	e.RequestID = clean(e.RequestID, 128)
	e.detail = encodeDetail(e.Detail)
}

// Canonical is the form of an entry its hash covers: every stored field
// but the hash, in a fixed order ending with prev_hash, each written as its
// length in bytes, a colon, the bytes and a newline (numbers in decimal).
// The form depends on no encoder's choices, so a trail verifies with any
// later build.
func (e *Entry) Canonical() []byte {
	fields := [...]string{
		"ward-audit-1", strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.Time.UnixMilli(), 10),
		e.ActorUser, e.ActorDevice, e.RemoteAddr, e.UserAgent,
		e.Action, e.TargetUser, e.RoomID, e.EventID, e.EventType, e.MediaID, e.Team, e.TokenID,
		string(e.Outcome), e.Reason, e.RequestID, e.detail, e.PrevHash,
	}
	n := 0
	for _, f := range fields {
		n += len(f) + 8
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, '\n')
	}
	return b
}

// ComputeHash is the hex SHA-256 of the canonical form.
func (e *Entry) ComputeHash() string {
	sum := sha256.Sum256(e.Canonical())
	return hex.EncodeToString(sum[:])
}

// Request is what the HTTP layer knows of a request; Record fills an
// entry's empty fields from it.
type Request struct {
	ID         string
	RemoteAddr string
	UserAgent  string
	// User and Device are the authenticated caller, once known.
	User   string
	Device string
}

type ctxKey int

const (
	requestKey ctxKey = iota
	roomKey
	targetUserKey
)

// WithRequest attaches r to ctx. The pointer is shared: authentication
// fills User and Device in later.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey, r)
}

// RequestFrom returns the request attached to ctx, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey).(*Request)
	return r
}

// WithRoom names the room an action concerns, for entries recorded by code
// that does not know it (a policy denial).
func WithRoom(ctx context.Context, roomID string) context.Context {
	return context.WithValue(ctx, roomKey, roomID)
}

// WithTargetUser names the user an action concerns (the invitee of a
// refused invite), like WithRoom.
func WithTargetUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, targetUserKey, user)
}

// fill completes e from the context.
func fill(ctx context.Context, e *Entry) {
	if r := RequestFrom(ctx); r != nil {
		if e.RequestID == "" {
			e.RequestID = r.ID
		}
		if e.RemoteAddr == "" {
			e.RemoteAddr = r.RemoteAddr
		}
		if e.UserAgent == "" {
			e.UserAgent = r.UserAgent
		}
		if e.ActorUser == "" {
			e.ActorUser = r.User
		}
		if e.ActorDevice == "" && e.ActorUser == r.User {
			e.ActorDevice = r.Device
		}
	}
	if e.RoomID == "" {
		if room, ok := ctx.Value(roomKey).(string); ok {
			e.RoomID = room
		}
	}
	if e.TargetUser == "" {
		if u, ok := ctx.Value(targetUserKey).(string); ok && u != e.ActorUser {
			e.TargetUser = u
		}
	}
	if e.Outcome == "" {
		e.Outcome = Allowed
	}
}
