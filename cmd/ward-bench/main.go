// Command ward-bench is a load generator for Matrix homeservers: it talks
// to any server by URL through the client-server API, runs one scenario
// (dm, team, initialsync or keys), prints a table and, with --json, writes
// the figures to a file. See the README's "Performance" section.
//
//	ward-bench --url http://127.0.0.1:8008 --scenario dm --pairs 20 --messages 50 --workers 20 \
//	    --shared-secret SECRET --pid $(pidof ward) --json dm.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"ward/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "ward-bench:", err)
		os.Exit(1)
	}
}

// run parses args, runs the scenario and writes the table to stdout (and
// progress to standard error unless --quiet). A run that lost or
// duplicated messages is an error, after the table is written.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ward-bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o bench.Options
	var jsonPath string
	var quiet bool
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8008", "homeserver base URL")
	fs.StringVar(&o.Scenario, "scenario", "dm", "scenario: "+strings.Join(bench.Scenarios, ", "))
	fs.IntVar(&o.Pairs, "pairs", 20, "dm: user pairs (N)")
	fs.IntVar(&o.Messages, "messages", 50, "dm: messages per pair (M); initialsync: messages per room")
	fs.IntVar(&o.Workers, "workers", 20, "concurrent senders (C)")
	fs.IntVar(&o.SetupWorkers, "setup-workers", 0, "concurrency of registration, room creation and joins (default: --workers)")
	fs.IntVar(&o.Members, "members", 50, "team, keys: room members")
	fs.IntVar(&o.Rooms, "rooms", 50, "initialsync: rooms (R)")
	fs.IntVar(&o.Repeat, "repeat", 20, "team: fan-outs (K); initialsync, keys: calls of each kind")
	fs.StringVar(&o.SharedSecret, "shared-secret", "", "registration shared secret; empty: open registration (m.login.dummy)")
	fs.StringVar(&jsonPath, "json", "", "write the result as JSON to this file")
	fs.IntVar(&o.PID, "pid", 0, "server process id to sample RSS and CPU of (from /proc)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "bound on the whole run")
	fs.StringVar(&o.Prefix, "prefix", "", "user name prefix (default: random)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on standard error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if !quiet {
		o.Progress = os.Stderr
	}
	res, err := bench.Run(ctx, o)
	if res != nil {
		if werr := bench.WriteTable(stdout, res); werr != nil {
			return werr
		}
		if jsonPath != "" {
			body, jerr := json.MarshalIndent(res, "", "  ")
			if jerr != nil {
				return jerr
			}
			if werr := os.WriteFile(jsonPath, append(body, '\n'), 0o644); werr != nil {
				return werr
			}
		}
	}
	if err != nil {
		return err
	}
	if len(res.Lost) > 0 || len(res.Duplicate) > 0 {
		return fmt.Errorf("%d messages lost, %d duplicated", len(res.Lost), len(res.Duplicate))
	}
	return nil
}
