package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
)

// Handler returns the whole HTTP surface of the client-server API.
func (a *API) Handler() http.Handler {
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mautrix.MUnrecognized.WithMessage("Unrecognized request").Write(w)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mautrix.MUnrecognized.WithStatus(http.StatusMethodNotAllowed).WithMessage("Method not allowed").Write(w)
	})
	r.HandleFunc("/health", func(w http.ResponseWriter, req *http.Request) {
		if err := a.Accounts.Ping(req.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("OK"))
	}).Methods(http.MethodGet, http.MethodHead)

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
	a.discoveryRoutes(r)
	a.synapseAdminRoutes(r)
	a.synapseAdminAPIRoutes(r)
	return a.outer(r)
}
