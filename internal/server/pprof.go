package server

import (
	"net/http"
	"net/http/pprof"
	"strings"
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

// withPprof adds the profiles to the metrics listener when the pprof
// setting is on: it is the operator's own address and serves them as it
// serves the metrics. (On the client API clientapi serves them to server
// admins only.)
func (s *Server) withPprof(next http.Handler) http.Handler {
	if !s.Config.Pprof {
		return next
	}
	profiles := pprofMux()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, pprofPrefix) {
			profiles.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
