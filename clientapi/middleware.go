package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/audit"
)

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// outer is the middleware every request passes: request id, CORS, body
// limit, panic recovery, the access log and metrics.
func (a *API) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := newRequestID()
		ctx := context.WithValue(r.Context(), requestIDKey, rid)
		// What the audit trail records of every action this request causes.
		ctx = audit.WithRequest(ctx, &audit.Request{ID: rid, RemoteAddr: remoteAddr(r), UserAgent: r.UserAgent()})
		// The router fills in the matched route template (see recordRoute);
		// the outer middleware runs before matching and cannot see it.
		ctx = context.WithValue(ctx, routeKey, new(string))
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
		h.Set("X-Request-Id", rid)
		rec := &statusRecorder{ResponseWriter: w}
		if r.Method == http.MethodOptions {
			rec.WriteHeader(http.StatusOK)
			a.finish(r, rec.status, start)
			return
		}
		// Uploads have their own, larger limit, applied as they stream to disk.
		upload := isMediaUpload(r)
		if a.Config.MaxRequestBytes > 0 && r.Body != nil && !upload {
			r.Body = http.MaxBytesReader(rec, r.Body, a.Config.MaxRequestBytes)
		}
		// A client that sends headers and then trickles (or never sends) its
		// body must not hold a connection for ever: bodies have a deadline,
		// a generous one for uploads.
		readFor := bodyReadTimeout
		if upload {
			readFor = uploadReadTimeout
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readFor))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.Log.ErrorContext(ctx, "handler panicked", "request_id", rid, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					mautrix.MUnknown.WithMessage("Internal server error (request %s)", rid).Write(rec)
				}
			}
			a.finish(r, rec.status, start)
		}()
		next.ServeHTTP(rec, r)
	})
}

const (
	bodyReadTimeout   = 60 * time.Second
	uploadReadTimeout = time.Hour
)

// knownMethods bounds the method label of metrics: anything else is OTHER,
// so that a client cannot create series at will.
var knownMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodDelete: true, http.MethodOptions: true, http.MethodPatch: true}

// finish logs the request (path template only: never a query string, which
// may hold an access token) and reports it to metrics.
func (a *API) finish(r *http.Request, status int, start time.Time) {
	if status == 0 {
		status = http.StatusOK
	}
	route := "unmatched"
	if h, ok := r.Context().Value(routeKey).(*string); ok && *h != "" {
		route = *h
	}
	elapsed := time.Since(start)
	a.Log.DebugContext(r.Context(), "request", "request_id", RequestID(r.Context()), "method", r.Method,
		"route", route, "status", status, "ms", elapsed.Milliseconds(), "remote", remoteAddr(r))
	if a.Observe != nil {
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		a.Observe(route, method, status, elapsed.Seconds())
	}
}

// recordRoute is a router middleware (it runs after matching): it stores
// the matched route template where outer's log line and metrics read it.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No path parameter of any endpoint may hold NUL or invalid UTF-8:
		// refuse them here, once, before any handler stores one.
		for _, v := range mux.Vars(r) {
			if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
				mautrix.MInvalidParam.WithMessage("Path parameters must be valid UTF-8 without NUL characters").Write(w)
				return
			}
		}
		if h, ok := r.Context().Value(routeKey).(*string); ok && *h == "" {
			if cr := mux.CurrentRoute(r); cr != nil {
				if t, err := cr.GetPathTemplate(); err == nil {
					*h = t
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
