// Package server wires Ward's packages into one running homeserver: it opens
// the database, applies migrations, builds the domain services and serves
// the client API (and metrics). cmd/ward and the black-box tests both start
// the server through it, so tests run exactly what operators run.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"ward/accounts"
	"ward/clientapi"
	"ward/internal/config"
	"ward/internal/db"
	"ward/internal/stream"
	"ward/rooms"
	"ward/syncapi"
)

// Server is a running homeserver.
type Server struct {
	Config   config.Config
	DB       *db.DB
	Log      *slog.Logger
	Notifier *stream.Notifier
	Accounts *accounts.Service
	Rooms    *rooms.Service
	Sync     *syncapi.Service

	http     *http.Server
	listener net.Listener
	done     chan error
}

// New opens the database, migrates it and builds the services. It does not
// listen yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	applied, err := d.Migrate(ctx)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}
	n := stream.NewNotifier()
	s := &Server{Config: cfg, DB: d, Log: log, Notifier: n}
	s.Accounts = accounts.New(d, cfg, n)
	s.Rooms = &rooms.Service{}
	s.Sync = &syncapi.Service{}
	return s, nil
}

// Handler is the client API handler, with observe told of every request.
func (s *Server) Handler(observe func(route, method string, status int, seconds float64)) http.Handler {
	api := &clientapi.API{
		Config: s.Config, Log: s.Log,
		Accounts: s.Accounts, Rooms: s.Rooms, Sync: s.Sync,
		Observe: observe,
	}
	return api.Handler()
}

// Start listens on the configured address (port 0 picks a free one) and
// serves in the background.
func (s *Server) Start(handler http.Handler) error {
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Config.Listen, err)
	}
	s.listener = ln
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	s.done = make(chan error, 1)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL is the base URL of the listening server.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Shutdown stops accepting requests, lets in-flight ones finish (long-polls
// are woken and answered) and closes the database.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
		if e := <-s.done; e != nil {
			err = errors.Join(err, e)
		}
	}
	return errors.Join(err, s.DB.Close())
}
