package clientapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
)

// healthTimeout bounds the database ping of GET /health.
const healthTimeout = 3 * time.Second

// methodNotAllowed answers a known endpoint called with the wrong method
// (DESIGN: Errors).
var methodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
	mautrix.MUnrecognized.WithStatus(http.StatusMethodNotAllowed).WithMessage("Method not allowed").Write(w)
})

// pathKnown reports whether some route serves req's path with another
// method.
func pathKnown(r *mux.Router, req *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if m == req.Method {
			continue
		}
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if r.Match(probe, &match) && match.MatchErr == nil && match.Route != nil {
			return true
		}
	}
	return false
}

// Handler returns the whole HTTP surface of the client-server API.
func (a *API) Handler() http.Handler {
	r := mux.NewRouter()
	// Path variables may hold an encoded "/" (a dehydrated device's ID is
	// standard base64), and so, decoded, "//": cleaning the path would
	// answer such a request with a redirect to another path.
	r.SkipClean(true)
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// gorilla/mux reports a known path called with the wrong method as
		// "not found" when the route sits in a subrouter; ask the router
		// whether the path exists under another method.
		if pathKnown(r, req) {
			methodNotAllowed(w, req)
			return
		}
		mautrix.MUnrecognized.WithMessage("Unrecognized request").Write(w)
	})
	r.MethodNotAllowedHandler = methodNotAllowed
	r.HandleFunc("/health", func(w http.ResponseWriter, req *http.Request) {
		// A database that accepts connections but never answers must not
		// hang the load balancer's probe: answer 503 after a few seconds.
		ctx, cancel := context.WithTimeout(req.Context(), healthTimeout)
		defer cancel()
		if err := a.Accounts.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("OK"))
	}).Methods(http.MethodGet, http.MethodHead)

	if a.Profiles != nil {
		r.PathPrefix("/debug/pprof/").Handler(a.serverAdmin(a.Profiles.ServeHTTP))
	}
	a.mediaRoutes(r) // before the /_matrix/client subrouter, which would shadow /v1/media
	a.auditRoutes(r) // before the /_ward/admin/v1 subrouter, which would shadow it
	// Also the registration-token validity check under /_matrix/client/v1.
	a.policyAdminRoutes(r)
	client := r.PathPrefix("/_matrix/client").Subrouter()
	// Every versioned endpoint answers under v3 and under r0, which Element
	// still calls for some of them.
	for _, prefix := range []string{"/v3", "/r0"} {
		v3 := client.PathPrefix(prefix).Subrouter()
		a.accountRoutes(v3)
		a.roomRoutes(v3)
		a.syncRoutes(v3)
		a.e2eeRoutes(v3)
		a.pushRoutes(v3)
	}
	v1 := client.PathPrefix("/v1").Subrouter()
	a.v1Routes(v1)
	a.dehydratedDeviceRoutes(client.PathPrefix(dehydratedDevicePrefix).Subrouter())
	a.discoveryRoutes(r)
	a.synapseAdminRoutes(r)
	a.synapseAdminAPIRoutes(r)
	return a.outer(r)
}
