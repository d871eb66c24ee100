package audit

import (
	"fmt"
	"strconv"
	"time"
)

// FilterParams is a filter as the command line and the HTTP API receive
// it: text, each field "" when not given. ParseFilter checks it the same
// way for both.
type FilterParams struct {
	User, Room, Action, Outcome string
	// Since and Until: an RFC 3339 time, milliseconds since 1970, or a
	// duration meaning that long ago (720h).
	Since, Until string
	// From: only entries after this sequence number.
	From string
	// Limit: at most this many entries, a positive number.
	Limit string
}

// ParamError is a filter parameter that was refused; Param is its name in
// FilterParams' terms (user, outcome, since, from, limit …).
type ParamError struct {
	Param, Reason string
}

func (e *ParamError) Error() string { return e.Param + " " + e.Reason }

// ParseFilter checks p and reads it into a Filter; now is the time a
// duration counts back from.
func ParseFilter(p FilterParams, now time.Time) (Filter, error) {
	f := Filter{User: p.User, Room: p.Room, Action: p.Action, Outcome: Outcome(p.Outcome)}
	switch f.Outcome {
	case "", Allowed, Denied, Failed:
	default:
		return f, &ParamError{"outcome", "must be allowed, denied or failed"}
	}
	var err error
	if f.Since, err = ParseTime("since", p.Since, now); err != nil {
		return f, err
	}
	if f.Until, err = ParseTime("until", p.Until, now); err != nil {
		return f, err
	}
	if p.From != "" {
		if f.After, err = strconv.ParseInt(p.From, 10, 64); err != nil || f.After < 0 {
			return f, &ParamError{"from", "must be a sequence number"}
		}
	}
	if p.Limit != "" {
		if f.Limit, err = strconv.Atoi(p.Limit); err != nil || f.Limit < 1 {
			return f, &ParamError{"limit", "must be a positive number"}
		}
	}
	return f, nil
}

// ParseTime reads the time parameter name: an RFC 3339 time, milliseconds
// since 1970, or a duration meaning that long before now; "" is the zero
// time.
func ParseTime(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, &ParamError{name, fmt.Sprintf("must be an RFC 3339 time, milliseconds or a duration ago such as 720h, not %q", v)}
}
