package server

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"

	"maunium.net/go/mautrix"
)

// pprofPrefix is where Go's runtime profiles are served when the pprof
// setting is on.
const pprofPrefix = "/debug/pprof/"

// pprofMux serves Go's runtime profiles under /debug/pprof/.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix, pprof.Index)
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", pprof.Trace)
	return mux
}

// withPprof adds the profiles to next when the pprof setting is on. On the
// client API (admin true) only a server admin's access token gets them;
// the metrics listener is the operator's own address and serves them as it
// serves the metrics.
func (s *Server) withPprof(next http.Handler, admin bool) http.Handler {
	if !s.Config.Pprof {
		return next
	}
	profiles := http.Handler(pprofMux())
	if admin {
		profiles = s.adminOnly(profiles)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, pprofPrefix) {
			profiles.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminOnly lets through requests that carry a server admin's access
// token (Authorization: Bearer, or the access_token query parameter).
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("access_token")
		if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok = strings.TrimSpace(h)
		}
		if tok == "" {
			writeMatrixError(w, mautrix.MMissingToken.WithMessage("Missing access token"))
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		sess, err := s.Accounts.Authenticate(r.Context(), tok, host, r.UserAgent())
		if err != nil {
			writeMatrixError(w, err)
			return
		}
		if !sess.IsAdmin {
			writeMatrixError(w, mautrix.MForbidden.WithMessage("Profiles are for server admins only"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeMatrixError(w http.ResponseWriter, err error) {
	var re mautrix.RespError
	if !errors.As(err, &re) {
		re = mautrix.MUnknown.WithStatus(http.StatusInternalServerError).WithMessage("Internal server error")
	}
	status := re.StatusCode
	if status == 0 {
		status = http.StatusUnauthorized
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errcode": re.ErrCode, "error": re.Err})
}
