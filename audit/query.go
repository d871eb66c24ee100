package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Filter selects entries. Empty fields match everything.
type Filter struct {
	// User matches the actor or the target user.
	User string
	Room string
	// Action matches exactly, or by prefix when it ends in "*" ("room.*").
	Action  string
	Outcome Outcome
	// Since and Until bound the time: Since <= time < Until.
	Since, Until time.Time
	// After pages: only entries with a greater sequence number.
	After int64
	// Limit bounds the page (default 100, at most 10000).
	Limit int
}

// MaxPage is the largest page Query returns.
const MaxPage = 10000

// Query returns the entries the filter selects, oldest first, and the
// sequence number to pass as After for the next page (0: no more).
func (r *Recorder) Query(ctx context.Context, f Filter) ([]Entry, int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > MaxPage {
		limit = MaxPage
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where = append(where, "seq > "+arg(f.After))
	if f.User != "" {
		p := arg(f.User)
		where = append(where, "(actor_user = "+p+" OR target_user = "+p+")")
	}
	if f.Room != "" {
		where = append(where, "room_id = "+arg(f.Room))
	}
	if f.Action != "" {
		if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
			where = append(where, "substr(action, 1, "+arg(len(prefix))+") = "+arg(prefix))
		} else {
			where = append(where, "action = "+arg(f.Action))
		}
	}
	if f.Outcome != "" {
		where = append(where, "outcome = "+arg(string(f.Outcome)))
	}
	if !f.Since.IsZero() {
		where = append(where, "ts >= "+arg(f.Since.UnixMilli()))
	}
	if !f.Until.IsZero() {
		where = append(where, "ts < "+arg(f.Until.UnixMilli()))
	}
	q := `SELECT ` + entryColumns + ` FROM audit_log WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY seq LIMIT ` + arg(limit+1)
	rows, err := r.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: query: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, nil
}

// Describe words a filter for the entry that records a read of the trail.
func (f Filter) Describe() map[string]string {
	d := map[string]string{}
	add := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	add("filter_user", f.User)
	add("filter_room", f.Room)
	add("filter_action", f.Action)
	add("filter_outcome", string(f.Outcome))
	if !f.Since.IsZero() {
		d["filter_since"] = f.Since.UTC().Format(time.RFC3339)
	}
	if !f.Until.IsZero() {
		d["filter_until"] = f.Until.UTC().Format(time.RFC3339)
	}
	if f.After > 0 {
		d["after"] = strconv.FormatInt(f.After, 10)
	}
	return d
}

// Format is an export format.
type Format string

const (
	JSONLines Format = "jsonl"
	CSV       Format = "csv"
)

// ParseFormat reads "jsonl" (also "json", "ndjson") or "csv".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "jsonl", "json", "ndjson":
		return JSONLines, nil
	case "csv":
		return CSV, nil
	}
	return "", fmt.Errorf("unknown export format %q (jsonl or csv)", s)
}

// CSVHeader is the first line of a CSV export.
var CSVHeader = []string{"seq", "time", "actor_user", "actor_device", "remote_addr", "user_agent", "action",
	"target_user", "room_id", "event_id", "event_type", "media_id", "team", "token_id", "outcome", "reason",
	"request_id", "detail", "prev_hash", "hash"}

// Exporter writes entries in one format.
type Exporter struct {
	format Format
	w      io.Writer
	csv    *csv.Writer
	enc    *json.Encoder
}

// NewExporter starts an export to w (the CSV header is written at once).
func NewExporter(w io.Writer, f Format) (*Exporter, error) {
	x := &Exporter{format: f, w: w}
	switch f {
	case CSV:
		x.csv = csv.NewWriter(w)
		if err := x.csv.Write(CSVHeader); err != nil {
			return nil, err
		}
	default:
		x.format = JSONLines
		x.enc = json.NewEncoder(w)
	}
	return x, nil
}

// Write writes one entry.
func (x *Exporter) Write(e Entry) error {
	if x.format == CSV {
		// A cell starting with = + - @ would be a formula to a spreadsheet.
		cell := func(s string) string {
			if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
				return "'" + s
			}
			return s
		}
		return x.csv.Write([]string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano),
			cell(e.ActorUser), cell(e.ActorDevice), cell(e.RemoteAddr), cell(e.UserAgent), cell(e.Action),
			cell(e.TargetUser), cell(e.RoomID), cell(e.EventID), cell(e.EventType), cell(e.MediaID), cell(e.Team),
			cell(e.TokenID), cell(string(e.Outcome)), cell(e.Reason), cell(e.RequestID), cell(e.detail), e.PrevHash, e.Hash})
	}
	return x.enc.Encode(e)
}

// Flush finishes the export.
func (x *Exporter) Flush() error {
	if x.csv != nil {
		x.csv.Flush()
		return x.csv.Error()
	}
	return nil
}

// Export writes every entry the filter selects (all pages from f.After on)
// to w and returns how many it wrote. The caller records the read.
func (r *Recorder) Export(ctx context.Context, w io.Writer, format Format, f Filter) (int, error) {
	x, err := NewExporter(w, format)
	if err != nil {
		return 0, err
	}
	n := 0
	f.Limit = 1000
	for {
		page, next, err := r.Query(ctx, f)
		if err != nil {
			return n, err
		}
		for _, e := range page {
			if err := x.Write(e); err != nil {
				return n, err
			}
			n++
		}
		if next == 0 {
			break
		}
		f.After = next
	}
	return n, x.Flush()
}
