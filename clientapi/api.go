package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/audit"
	"ward/e2ee"
	"ward/internal/config"
	"ward/internal/jsoncheck"
	"ward/internal/matrixid"
	"ward/media"
	"ward/policy"
	"ward/push"
	"ward/rooms"
	"ward/syncapi"
)

// API holds what the handlers call.
type API struct {
	Config   config.Config
	Log      *slog.Logger
	Accounts *accounts.Service
	Rooms    *rooms.Service
	Sync     *syncapi.Service
	E2EE     *e2ee.Service
	Media    *media.Service
	// Policy is the clinic policy; nil when switched off.
	Policy *policy.Service
	// Push is push rules and pushers.
	Push *push.Service
	// Audit is the audit trail (admin endpoints read it and record to it).
	Audit *audit.Recorder
	// Profiles, when set, serves Go's runtime profiles under /debug/pprof/,
	// to server admins only.
	Profiles http.Handler
	// Observe, when set, is told of every finished request (for metrics).
	Observe func(route, method string, status int, seconds float64)
}

type ctxKey int

const (
	sessionKey ctxKey = iota
	requestIDKey
	routeKey
)

// session returns the authenticated caller; only valid behind a.auth.
func session(r *http.Request) accounts.Session {
	s, _ := r.Context().Value(sessionKey).(accounts.Session)
	return s
}

// RequestID returns the id the middleware gave the request.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// accessToken reads the token from the Authorization header or, as the spec
// still allows, the access_token query parameter.
func accessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 9110); the header wins over
		// the query parameter.
		if scheme, t, ok := strings.Cut(strings.TrimSpace(h), " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}

// auth wraps a handler that needs a logged-in caller.
func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := accessToken(r)
		if tok == "" {
			a.writeError(w, r, mautrix.MMissingToken.WithMessage("Missing access token"))
			return
		}
		s, err := a.Accounts.Authenticate(r.Context(), tok, remoteAddr(r), r.UserAgent())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if ar := audit.RequestFrom(r.Context()); ar != nil {
			ar.User, ar.Device = string(s.UserID), string(s.DeviceID)
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey, s)))
	}
}

// optionalAuth wraps a handler that serves anyone but may answer a
// logged-in caller differently: a request with a token is authenticated as
// by auth (a bad token is refused), one without runs with no session.
func (a *API) optionalAuth(h http.HandlerFunc) http.HandlerFunc {
	authed := a.auth(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if accessToken(r) == "" {
			h(w, r)
			return
		}
		authed(w, r)
	}
}

// remoteAddr is the client's address without the port.
func remoteAddr(r *http.Request) string {
	addr := r.RemoteAddr
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}

// readJSON decodes the request body into v. A body that is not JSON at all
// is M_NOT_JSON; JSON of the wrong shape is M_BAD_JSON; a body over the
// limit is M_TOO_LARGE.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mautrix.MTooLarge.WithMessage("Request body is larger than %d bytes", mbe.Limit)
		}
		return mautrix.MBadJSON.WithMessage("Could not read the request body")
	}
	return decodeJSON(body, v)
}

// decodeJSON is readJSON's decoder, separate so that fuzz tests reach it.
//
// No request body in the spec is required (none of its requestBody
// objects says "required: true"), and some clients send none to /join,
// /leave or /logout: an empty body reads as {}. A body that is present
// must be a JSON object (every request body's schema is "type: object");
// null is not one, and reading it as {} would create a room from a body
// the client did not mean as a request.
func decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		body, trimmed = []byte("{}"), []byte("{}")
	}
	if !utf8.Valid(body) || !json.Valid(body) {
		return mautrix.MNotJSON.WithMessage("Content not JSON.")
	}
	if trimmed[0] != '{' {
		return errNotObject
	}
	// NUL cannot be stored (PostgreSQL text) and has no business in any
	// field a client sends; a lone surrogate escape would be stored as
	// U+FFFD, not as sent. Refuse both for every body, on every backend.
	if err := jsoncheck.Check(body, jsoncheck.Rules{NoNUL: true, ValidStrings: true}); err != nil {
		return mautrix.MBadJSON.WithMessage("Invalid JSON: %s", err.Error())
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				return errNotObject
			}
			return mautrix.MBadJSON.WithMessage("Field %q must be %s, not %s", field, jsonKind(te.Type), te.Value)
		}
		return mautrix.MBadJSON.WithMessage("Malformed JSON: %s", err.Error())
	}
	return nil
}

var errNotObject = mautrix.MBadJSON.WithMessage("The request body must be a JSON object")

// jsonKind names the JSON kind a Go type decodes from, for error messages
// that speak the client's language rather than Go's.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a JSON value"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// writeJSON writes v with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The client went away; nothing to tell it.
		return
	}
}

// writeError turns err into a Matrix error response. Only RespError values
// are shown to the client; anything else is logged and hidden.
//
// Which failures log at ERROR: only those that are the server's own fault —
// an error that is not a Matrix error (a database failure, a bug; its cause
// is hidden from the client) and, in the middleware, a panic. A Matrix
// error is an answer the code chose: the client's mistake or a normal
// condition, even with a 5xx status (504 M_NOT_YET_UPLOADED while an
// asynchronous upload is pending, 501 for a feature that is off). Those
// log at DEBUG, so that an operator's ERROR lines are all worth a look.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var re mautrix.RespError
	if errors.As(err, &re) {
		if re.StatusCode == 0 {
			re.StatusCode = http.StatusBadRequest
		}
		if re.Err == "" {
			re.Err = re.ErrCode
		}
		a.Log.DebugContext(r.Context(), "request refused", "request_id", RequestID(r.Context()),
			"status", re.StatusCode, "errcode", re.ErrCode)
		re.Write(w)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		mautrix.MTooLarge.WithMessage("Request body is larger than %d bytes", mbe.Limit).Write(w)
		return
	}
	if errors.Is(err, context.Canceled) {
		// The client hung up; the status is never seen.
		w.WriteHeader(499)
		return
	}
	a.Log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "error", err)
	mautrix.MUnknown.WithMessage("Internal server error (request %s)", RequestID(r.Context())).Write(w)
}

// pathUserID reads a user ID from a path variable, checking its form.
func pathUserID(raw string) (id.UserID, error) {
	uid := id.UserID(raw)
	if err := matrixid.CheckUserID(uid); err != nil {
		return "", mautrix.MInvalidParam.WithMessage("Invalid user ID %q", raw)
	}
	return uid, nil
}

// pathRoomID reads a room ID from a path variable, checking its form.
func pathRoomID(raw string) (id.RoomID, error) {
	if !strings.HasPrefix(raw, "!") || len(raw) < 2 || len(raw) > 255 {
		return "", mautrix.MInvalidParam.WithMessage("Invalid room ID %q", raw)
	}
	return id.RoomID(raw), nil
}

var errNotImplemented = mautrix.MUnrecognized.WithMessage("This endpoint is not implemented yet")

func (a *API) notImplemented(w http.ResponseWriter, r *http.Request) {
	a.writeError(w, r, errNotImplemented)
}
