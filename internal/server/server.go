// Package server wires Ward's packages into one running homeserver: it opens
// the database, applies migrations, builds the domain services and serves
// the client API (and metrics). cmd/ward and the black-box tests both start
// the server through it, so tests run exactly what operators run.
package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/audit"
	"ward/clientapi"
	"ward/e2ee"
	"ward/internal/config"
	"ward/internal/db"
	"ward/internal/metrics"
	"ward/internal/stream"
	"ward/media"
	"ward/policy"
	"ward/push"
	"ward/rooms"
	"ward/syncapi"
)

// Server is a running homeserver.
type Server struct {
	Config   config.Config
	DB       *db.DB
	Log      *slog.Logger
	Notifier *stream.Notifier
	// Audit is the audit trail every domain records into.
	Audit    *audit.Recorder
	Accounts *accounts.Service
	Rooms    *rooms.Service
	Sync     *syncapi.Service
	// Policy is the clinic policy; nil when switched off.
	Policy *policy.Service
	// stopBackground ends the server's background work (policy rechecks).
	stopBackground context.CancelFunc
	// sqliteLock is held while this process serves a SQLite database.
	sqliteLock *os.File
	E2EE       *e2ee.Service
	Media      *media.Service
	Push       *push.Service

	http     *http.Server
	listener net.Listener
	done     chan error

	metricsOnce     sync.Once
	metrics         *metrics.Metrics
	metricsHTTP     *http.Server
	metricsListener net.Listener
	metricsDone     chan error

	stoppingOnce sync.Once // makes stopping
	stopOnce     sync.Once // closes stopping
	stopping     chan struct{}

	// stopRetention ends the audit retention; retentionDone closes once it has.
	stopRetention context.CancelFunc
	retentionDone chan struct{}

	// relay carries wake-ups to and from the other instances on the same
	// PostgreSQL database; nil on SQLite. stopRelay ends it; relayDone
	// closes once it sent its last notifications.
	relay     *stream.Relay
	stopRelay context.CancelFunc
	relayDone chan struct{}
}

// New opens the database, migrates it and builds the services. It does not
// listen yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	// A driver's error may quote the setting: never with its password.
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return nil, config.ScrubDSN(err, cfg.Database)
	}
	applied, err := d.Migrate(ctx)
	if err != nil {
		d.Close()
		return nil, config.ScrubDSN(fmt.Errorf("migrate: %w", err), cfg.Database)
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}
	if err := checkServerName(ctx, d, cfg.ServerName); err != nil {
		d.Close()
		return nil, err
	}
	n := stream.NewNotifier()
	var relay *stream.Relay
	if d.Dialect == db.Postgres {
		// Other instances may serve the same database: their writes must
		// wake the syncs waiting here, and ours theirs.
		if relay, err = stream.NewRelay(cfg.Database, d.Read, log); err != nil {
			d.Close()
			return nil, config.ScrubDSN(err, cfg.Database)
		}
		n = stream.NewSharedNotifier(relay)
	}
	s := &Server{Config: cfg, DB: d, Log: log, Notifier: n, Audit: audit.New(d, log), relay: relay}
	s.Accounts = accounts.New(d, cfg, n)
	var gate rooms.Gate
	if cfg.Policy == "on" {
		s.Policy = policy.New(d, log, cfg.ServerName)
		gate = s.Policy
		s.Accounts.RegistrationTokens = s.Policy
	} else {
		log.Warn("the clinic policy is OFF: plain Matrix behaviour, anyone may reach anyone; for conformance testing only")
	}
	var profileVisible func(ctx context.Context, viewer, owner id.UserID) (bool, error)
	if s.Policy != nil {
		profileVisible = func(ctx context.Context, viewer, owner id.UserID) (bool, error) {
			ok, err := s.Policy.Reachable(ctx, viewer, []id.UserID{owner})
			return ok[owner], err
		}
	}
	s.Media, err = media.New(d, media.Options{
		ServerName: cfg.ServerName, DataDir: cfg.DataDir, MaxUploadBytes: cfg.MaxUploadBytes,
		QuotaBytes: cfg.MediaQuotaBytes, URLPreviews: cfg.URLPreviews, Profiles: s.Accounts, Log: log,
		ProfileVisible: profileVisible, IsAdmin: s.Accounts.IsAdmin, Audit: mediaAudit{s.Audit},
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	s.Rooms, err = rooms.New(ctx, d, n, rooms.Options{
		ServerName: cfg.ServerName, DefaultRoomVersion: cfg.DefaultRoomVersion, Profiles: s.Accounts, Log: log,
		Observer: s.Media, Gate: gate, PurposeEventType: policy.PurposeEventType,
		EncryptSchedulingRooms: cfg.EncryptSchedulingRooms, Audit: s.Audit,
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	s.Media.Rooms = s.Rooms
	s.Accounts.OnProfileChange = s.Rooms.UpdateProfile
	s.Accounts.OnDeactivate = s.accountDeactivated
	s.Accounts.DeviceIDReserved = e2ee.IsDehydratedDevice
	s.Push = push.New(d, s.Accounts)
	s.Sync = syncapi.New(d, s.Rooms, syncAccountData{s.Accounts, s.Push}, n, s.Stopping(), log)
	s.E2EE = e2ee.New(d, n, cfg.ServerName)
	s.Accounts.OnDevicesDeleted = s.devicesDeleted
	s.Sync.E2EE = s.E2EE
	s.Accounts.Audit, s.E2EE.Audit = s.Audit, s.Audit
	if s.Policy != nil {
		s.E2EE.Reach = s.Policy
	}
	if s.Policy != nil {
		s.Policy.Audit = s.Audit
	}
	return s, nil
}

// accountDeactivated makes a deactivated user leave their rooms and
// deletes their dehydrated device, which others would otherwise keep
// encrypting to.
func (s *Server) accountDeactivated(ctx context.Context, user id.UserID) {
	s.Rooms.LeaveAll(ctx, user)
	if err := s.E2EE.AccountDeactivated(ctx, user); err != nil {
		s.Log.ErrorContext(ctx, "delete the dehydrated device of a deactivated account", "user", user, "error", err)
	}
}

// checkServerName refuses a server name other than the one the database's
// users were made under: user IDs embed it, so a changed name would leave
// every account unreachable and make new ones on a second name.
func checkServerName(ctx context.Context, d *db.DB, name string) error {
	var first sql.NullString
	var n int64
	err := d.Read.QueryRowContext(ctx,
		`SELECT MIN(user_id), COUNT(*) FROM users WHERE user_id NOT LIKE $1`, "%:"+name).Scan(&first, &n)
	if err != nil {
		return fmt.Errorf("check the server name against the users: %w", err)
	}
	if n == 0 {
		return nil
	}
	userID := first.String
	_, other, _ := strings.Cut(userID, ":")
	return fmt.Errorf("server_name is %q, but the database holds users of server name %q (%d, such as %s): "+
		"the server name cannot change once users exist; set server_name back to %q, or start on a new database",
		name, other, n, userID, other)
}

// Handler is the client API handler. Every request is counted in the
// server's metrics and, when observe is not nil, also told to observe.
func (s *Server) Handler(observe func(route, method string, status int, seconds float64)) http.Handler {
	m := s.Metrics()
	record := m.Observe
	if observe != nil {
		record = func(route, method string, status int, seconds float64) {
			m.Observe(route, method, status, seconds)
			observe(route, method, status, seconds)
		}
	}
	api := &clientapi.API{
		Config: s.Config, Log: s.Log,
		Accounts: s.Accounts, Rooms: s.Rooms, Sync: s.Sync, E2EE: s.E2EE, Media: s.Media, Policy: s.Policy, Audit: s.Audit, Push: s.Push,
		Observe: record,
	}
	if s.Config.Pprof {
		// On the client API the profiles pass the admin gate every admin
		// endpoint passes, so that a refusal is audited like theirs.
		api.Profiles = pprofMux()
	}
	return api.Handler()
}

// Metrics is the server's own set of Prometheus metrics: requests through
// Handler, waiting syncs and the database pools.
func (s *Server) Metrics() *metrics.Metrics {
	s.metricsOnce.Do(func() {
		s.metrics = metrics.New(metrics.Sources{
			SyncWaiting: s.Notifier.Waiting,
			DBStats:     s.DB.Stats,
		})
	})
	return s.metrics
}

// Stopping is closed when Shutdown begins, so that long-polling requests
// (/sync) answer at once with what they have instead of holding the
// shutdown up until their timeout.
func (s *Server) Stopping() <-chan struct{} {
	s.stoppingOnce.Do(func() { s.stopping = make(chan struct{}) })
	return s.stopping
}

// Start listens on the configured address (port 0 picks a free one) and
// serves in the background; when metrics_listen is set it also serves the
// metrics there, apart from the client API.
func (s *Server) Start(handler http.Handler) error {
	if err := s.lockSQLite(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		s.unlockSQLite()
		return fmt.Errorf("listen on %s: %w", s.Config.Listen, err)
	}
	var mln net.Listener
	if s.Config.MetricsListen != "" {
		mln, err = net.Listen("tcp", s.Config.MetricsListen)
		if err != nil {
			ln.Close()
			s.unlockSQLite()
			return fmt.Errorf("listen for metrics on %s: %w", s.Config.MetricsListen, err)
		}
	}
	s.listener = ln
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	s.done = serve(s.http, ln)
	if mln != nil {
		s.metricsListener = mln
		s.metricsHTTP = &http.Server{Handler: s.withPprof(s.Metrics().Handler()), ReadHeaderTimeout: 30 * time.Second}
		s.metricsDone = serve(s.metricsHTTP, mln)
	}
	if s.relay != nil {
		bg, cancel := context.WithCancel(context.Background())
		s.stopRelay, s.relayDone = cancel, make(chan struct{})
		go func() {
			defer close(s.relayDone)
			s.relay.Run(bg, s.Notifier)
		}()
	}
	if s.Policy != nil {
		bg, cancel := context.WithCancel(context.Background())
		s.stopBackground = cancel
		go s.Policy.RunRechecks(bg, policyRooms{s.Rooms}, time.Second)
	}
	if period := s.Config.AuditRetention; period > 0 {
		bg, cancel := context.WithCancel(audit.WithRequest(context.Background(), &audit.Request{User: "ward serve (audit_retention)"}))
		s.stopRetention, s.retentionDone = cancel, make(chan struct{})
		go func() {
			defer close(s.retentionDone)
			s.Audit.RunRetention(bg, period, min(time.Hour, period))
		}()
	}
	return nil
}

// serve runs srv on ln in the background; the channel receives the outcome
// (nil after Shutdown or Close).
func serve(srv *http.Server, ln net.Listener) chan error {
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	return done
}

// MetricsURL is the base URL of the metrics listener, or "" when metrics
// are not served.
func (s *Server) MetricsURL() string {
	if s.metricsListener == nil {
		return ""
	}
	return "http://" + s.metricsListener.Addr().String()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL is the base URL of the listening server.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Shutdown stops accepting requests, lets in-flight ones finish (long-polls
// see Stopping closed and answer) and closes the database. Requests still
// running when ctx ends are cut off, and Shutdown reports it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Stopping()
	s.stopOnce.Do(func() { close(s.stopping) })
	if s.stopBackground != nil {
		s.stopBackground()
	}
	if s.stopRetention != nil {
		s.stopRetention()
		<-s.retentionDone
	}
	var err error
	if s.http != nil {
		if e := s.http.Shutdown(ctx); e != nil {
			// Out of time: cut the remaining connections off.
			err = fmt.Errorf("requests still running at shutdown timeout: %w", e)
			s.http.Close()
		}
		if e := <-s.done; e != nil {
			err = errors.Join(err, e)
		}
	}
	if s.metricsHTTP != nil {
		// Scrapes are short and hold nothing a client was promised.
		s.metricsHTTP.Close()
		if e := <-s.metricsDone; e != nil {
			err = errors.Join(err, e)
		}
	}
	if s.stopRelay != nil {
		// After the last request: its wake-ups still reach the others.
		s.stopRelay()
		<-s.relayDone
	} else if s.relay != nil {
		// Not serving (an admin command): what it wrote still wakes the
		// servers' syncs.
		last, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if e := s.relay.Flush(last); e != nil {
			s.Log.Warn("wake-up relay: last notifications not sent", "error", e)
		}
		cancel()
	}
	err = errors.Join(err, s.DB.Close())
	s.unlockSQLite()
	return err
}
