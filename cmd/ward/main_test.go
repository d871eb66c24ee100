package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ward/internal/db"
	"ward/internal/dbtest"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// invocation is one call of run with a fake environment.
type invocation struct {
	args   []string
	env    map[string]string
	stdin  string
	stdout syncBuffer
	stderr syncBuffer
}

func (iv *invocation) run(ctx context.Context) error {
	return run(ctx, iv.args, iv.environ(), strings.NewReader(iv.stdin), &iv.stdout, &iv.stderr)
}

// environ is iv.env as KEY=value pairs.
func (iv *invocation) environ() []string {
	var out []string
	for k, v := range iv.env {
		out = append(out, k+"="+v)
	}
	return out
}

// sqliteEnv is an environment that puts the database in a fresh folder.
func sqliteEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"WARD_DATABASE": filepath.Join(dir, "ward.db"),
		"WARD_DATA_DIR": dir,
		"WARD_LISTEN":   "127.0.0.1:0",
	}
}

// migrated sets up the database env names, as the first start of
// `ward serve` would: admin commands never create one.
func migrated(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	iv := &invocation{args: []string{"migrate"}, env: env}
	if err := iv.run(context.Background()); err != nil {
		t.Fatalf("migrate: %v\n%s", err, iv.stderr.String())
	}
	return env
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantErr    error  // errors.Is target; nil with wantErrText "" means success
		wantErrTxt string // substring of the error
		wantOut    []string
		notOut     []string
	}{
		{name: "no command", args: nil, wantErr: errUsage},
		{name: "unknown command", args: []string{"fly"}, wantErr: errUsage},
		{name: "help", args: []string{"help"}, wantOut: []string{"ward serve", "ward admin user create"}},
		{name: "version", args: []string{"version"}, wantOut: []string{"ward " + version}},
		{name: "unknown flag", args: []string{"serve", "--nope"}, wantErr: errUsage},
		{name: "stray argument", args: []string{"migrate", "extra"}, wantErr: errUsage},
		{name: "admin unknown", args: []string{"admin", "room", "delete"}, wantErr: errUsage},
		{name: "user create without user", args: []string{"admin", "user", "create"}, wantErr: errUsage},
		{
			name: "print config with secrets redacted",
			args: []string{"serve", "--print-config"},
			env: map[string]string{
				"WARD_SERVER_NAME":                "clinic.example",
				"WARD_REGISTRATION_SHARED_SECRET": "do-not-print-me",
			},
			wantOut: []string{"server_name: clinic.example", "registration_shared_secret: <redacted>", "registration: closed"},
			notOut:  []string{"do-not-print-me"},
		},
		{
			name: "bad config lists every problem",
			args: []string{"serve"},
			env: map[string]string{
				"WARD_SERVER_NAME":          "not a name",
				"WARD_LISTEN":               "nowhere",
				"WARD_REGISTRATION":         "sometimes",
				"WARD_DEFAULT_ROOM_VERSION": "9",
				"WARD_LOG_FORMAT":           "xml",
			},
			wantErrTxt: "invalid configuration (5 problems)",
			notOut:     []string{"listening"},
		},
		{
			name:       "print config still shows problems",
			args:       []string{"serve", "--print-config"},
			env:        map[string]string{"WARD_MAX_REQUEST_BYTES": "0"},
			wantErrTxt: "max_request_bytes",
			wantOut:    []string{"max_request_bytes: 0"},
		},
		{
			name:       "unparsable environment",
			args:       []string{"migrate"},
			env:        map[string]string{"WARD_SHUTDOWN_TIMEOUT": "later"},
			wantErrTxt: "WARD_SHUTDOWN_TIMEOUT",
		},
		{
			name:    "print config hides the database password",
			args:    []string{"serve", "--print-config"},
			env:     map[string]string{"WARD_DATABASE": "postgres://ward:pgpass999@db.example:5432/ward"},
			wantOut: []string{"database: postgres://ward:<redacted>@db.example:5432/ward"},
			notOut:  []string{"pgpass999"},
		},
		{
			name:    "print config hides a key/value password",
			args:    []string{"serve", "--print-config"},
			env:     map[string]string{"WARD_DATABASE": "host=db.example user=ward password=pgpass999 dbname=ward"},
			wantOut: []string{"password=<redacted>"},
			notOut:  []string{"pgpass999"},
		},
		{
			name:       "print config with an unreadable file prints no defaults",
			args:       []string{"serve", "--print-config", "--config", "/nonexistent/ward.yaml"},
			wantErrTxt: "/nonexistent/ward.yaml",
			notOut:     []string{"server_name: localhost"},
		},
		{
			name:       "print config with a bad value prints no defaults",
			args:       []string{"serve", "--print-config"},
			env:        map[string]string{"WARD_RATE_LIMIT_PER_SECOND": "NaN"},
			wantErrTxt: "WARD_RATE_LIMIT_PER_SECOND",
			notOut:     []string{"rate_limit_per_second: 1"},
		},
		{
			name:       "unsupported database scheme",
			args:       []string{"migrate"},
			env:        map[string]string{"WARD_DATABASE": "mysql://x"},
			wantErrTxt: "database: mysql",
		},
		{
			name:       "missing config file",
			args:       []string{"migrate", "--config", "/nonexistent/ward.yaml"},
			wantErrTxt: "read config",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := &invocation{args: tt.args, env: tt.env}
			err := iv.run(context.Background())
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.wantErrTxt != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErrTxt) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErrTxt)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v\nstderr: %s", err, iv.stderr.String())
				}
			}
			out := iv.stdout.String()
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tt.notOut {
				if strings.Contains(out, n) || strings.Contains(iv.stderr.String(), n) {
					t.Errorf("output holds %q", n)
				}
			}
		})
	}
}

func TestBadConfigNamesEveryKey(t *testing.T) {
	iv := &invocation{args: []string{"serve"}, env: map[string]string{
		"WARD_SERVER_NAME": "", "WARD_LISTEN": "nowhere", "WARD_REGISTRATION": "sometimes",
		"WARD_DEFAULT_ROOM_VERSION": "9", "WARD_LOG_LEVEL": "loud", "WARD_PUBLIC_BASE_URL": "ftp://x",
	}}
	err := iv.run(context.Background())
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, key := range []string{"listen", "registration", "default_room_version", "log_level", "public_base_url"} {
		if !strings.Contains(err.Error(), "\n  "+key+": ") {
			t.Errorf("error does not list %s:\n%v", key, err)
		}
	}
}

// A bad file and bad environment values and semantic problems all come in
// one report, in the "N problems:" form, and --print-config then shows
// the problems, not a configuration of defaults.
func TestConfigProblemsReportedTogether(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"types and semantics": "max_upload_bytes: 1.5\nlog_level: loud\n",
		"unparsable":          "server_name: [unclosed\n",
		"two documents":       "log_level: loud\n---\nlog_level: debug\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"WARD_SHUTDOWN_TIMEOUT": "later", "WARD_REGISTRATION": "sometimes"}
			for _, args := range [][]string{{"migrate", "--config", file}, {"serve", "--print-config", "--config", file}} {
				iv := &invocation{args: args, env: env}
				err := iv.run(context.Background())
				if err == nil {
					t.Fatalf("%v: accepted", args)
				}
				msg := err.Error()
				if !regexp.MustCompile(`invalid configuration \(\d+ problems\):`).MatchString(msg) {
					t.Errorf("%v: not in the problems form:\n%s", args, msg)
				}
				for _, want := range []string{"WARD_SHUTDOWN_TIMEOUT", "\n  registration: "} {
					if !strings.Contains(msg, want) {
						t.Errorf("%v: error lacks %q:\n%s", args, want, msg)
					}
				}
				if name == "types and semantics" && (!strings.Contains(msg, "max_upload_bytes") || !strings.Contains(msg, "log_level")) {
					t.Errorf("%v: file problems missing:\n%s", args, msg)
				}
				if name == "two documents" && !strings.Contains(msg, "second YAML document") {
					t.Errorf("%v: second document not reported:\n%s", args, msg)
				}
				if out := iv.stdout.String(); out != "" {
					t.Errorf("%v: printed a configuration:\n%s", args, out)
				}
			}
		})
	}
}

// A database that cannot be reached is reported without its password.
func TestDatabaseErrorsHideThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://ward:pgpass999@127.0.0.1:1/ward?connect_timeout=5",
		"host=127.0.0.1 port=1 user=ward password=pgpass999 dbname=ward connect_timeout=5",
	} {
		for _, cmd := range []string{"migrate", "serve"} {
			env := sqliteEnv(t)
			env["WARD_DATABASE"] = dsn
			iv := &invocation{args: []string{cmd}, env: env}
			err := iv.run(context.Background())
			if err == nil {
				t.Fatalf("%s on an unreachable database succeeded", cmd)
			}
			if strings.Contains(err.Error()+iv.stdout.String()+iv.stderr.String(), "pgpass999") {
				t.Errorf("%s shows the password:\n%v\n%s", cmd, err, iv.stderr.String())
			}
		}
	}
}

func TestConfigFileFromFlagAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ward.yaml")
	if err := os.WriteFile(file, []byte("server_name: from-file.example\nlog_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"serve", "--print-config", "--config", file}, nil},
		{"WARD_CONFIG", []string{"serve", "--print-config"}, map[string]string{"WARD_CONFIG": file}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			iv := &invocation{args: tt.args, env: tt.env}
			if err := iv.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if out := iv.stdout.String(); !strings.Contains(out, "server_name: from-file.example") || !strings.Contains(out, "log_level: debug") {
				t.Fatalf("file not read:\n%s", out)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		env := sqliteEnv(t)
		env["WARD_DATABASE"] = b.DSN
		iv := &invocation{args: []string{"migrate"}, env: env}
		if err := iv.run(context.Background()); err != nil {
			t.Fatalf("migrate: %v\n%s", err, iv.stderr.String())
		}
		if !strings.Contains(iv.stdout.String(), "applied 0001_") {
			t.Fatalf("first migrate printed:\n%s", iv.stdout.String())
		}
		again := &invocation{args: []string{"migrate"}, env: env}
		if err := again.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if out := again.stdout.String(); strings.Contains(out, "applied") || !strings.Contains(out, "up to date") {
			t.Fatalf("second migrate printed:\n%s", out)
		}
	})
}

// serve starts, answers /health, logs without secrets, and returns nil when
// its context ends (as on SIGTERM).
func TestServeAndStop(t *testing.T) {
	env := sqliteEnv(t)
	env["WARD_REGISTRATION_SHARED_SECRET"] = "never-in-the-log"
	env["WARD_LOG_FORMAT"] = "json"
	iv := &invocation{args: []string{"serve"}, env: env}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- iv.run(ctx) }()

	addrRE := regexp.MustCompile(`"addr":"([^"]+)"`)
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == ""; {
		if m := addrRE.FindStringSubmatch(iv.stderr.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\n%s", err, iv.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never logged its address:\n%s", iv.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	logs := iv.stderr.String()
	if strings.Contains(logs, "never-in-the-log") {
		t.Fatal("the log holds the shared secret")
	}
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no JSON 'stopped' line in the log:\n%s", logs)
	}
}

func TestAdminUserCreate(t *testing.T) {
	env := migrated(t, sqliteEnv(t))
	env["WARD_SERVER_NAME"] = "clinic.example"
	iv := &invocation{args: []string{"admin", "user", "create", "--user", "alice", "--admin"}, env: env, stdin: "correct horse battery staple\n"}
	if err := iv.run(context.Background()); err != nil {
		t.Fatalf("admin user create: %v\n%s", err, iv.stderr.String())
	}
	if out := iv.stdout.String(); !strings.Contains(out, "@alice:clinic.example") {
		t.Fatalf("output does not name the user:\n%s", out)
	}
	if strings.Contains(iv.stdout.String()+iv.stderr.String(), "correct horse") {
		t.Fatal("the password was printed")
	}
	// A second account with the same localpart is refused.
	dup := &invocation{args: []string{"admin", "user", "create", "--user", "alice", "--password", "another-password-1"}, env: env}
	if err := dup.run(context.Background()); err == nil {
		t.Fatal("creating @alice twice succeeded")
	}
}

func TestAdminUserCreateNeedsPassword(t *testing.T) {
	iv := &invocation{args: []string{"admin", "user", "create", "--user", "bob"}, env: sqliteEnv(t), stdin: ""}
	err := iv.run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no password") {
		t.Fatalf("err = %v, want a missing password", err)
	}
}

// An incomplete `ward admin` command lists the commands that complete it.
func TestAdminListsSubcommands(t *testing.T) {
	for args, want := range map[string][]string{
		"admin":             {"ward admin user create", "ward admin role set", "ward admin audit verify"},
		"admin user":        {"ward admin user create"},
		"admin user delete": {"ward admin user create", `"delete"`},
		"admin role":        {"ward admin role set", "ward admin role list"},
		"admin team":        {"ward admin team create", "ward admin team add"},
		"admin token":       {"ward admin token create", "ward admin token revoke"},
		"admin audit":       {"ward admin audit verify"},
	} {
		iv := &invocation{args: strings.Fields(args)}
		if err := iv.run(context.Background()); !errors.Is(err, errUsage) {
			t.Errorf("ward %s: err = %v, want the usage", args, err)
		}
		out := iv.stderr.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("ward %s does not list %q:\n%s", args, w, out)
			}
		}
		if args == "admin user" && strings.Contains(out, `unknown command "user"`) {
			t.Errorf("ward admin user calls user unknown:\n%s", out)
		}
	}
}

// admin user create refuses a password shorter than 8 characters, from
// the flag or from standard input, counting characters rather than bytes.
func TestAdminUserCreateRefusesShortPasswords(t *testing.T) {
	env := migrated(t, sqliteEnv(t))
	for _, tt := range []struct {
		name, flag, stdin string
		ok                bool
	}{
		{name: "flag 7", flag: "1234567"},
		{name: "stdin 7", stdin: "abcdefg\n"},
		{name: "stdin 1", stdin: "x\n"},
		{name: "7 accented characters", stdin: "ééééééé\n"},
		{name: "flag 8", flag: "12345678", ok: true},
		{name: "stdin 8 accented", stdin: "éééééééé\n", ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"admin", "user", "create", "--user", "u" + strings.ReplaceAll(tt.name, " ", "")}
			if tt.flag != "" {
				args = append(args, "--password", tt.flag)
			}
			iv := &invocation{args: args, env: env, stdin: tt.stdin}
			err := iv.run(context.Background())
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok && !strings.Contains(err.Error(), "at least 8") {
				t.Fatalf("err = %v, want it to say at least 8", err)
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	for in, want := range map[string]string{
		"pw\n": "pw", "pw\r\n": "pw", "pw": "pw", "": "", "a b\nsecond\n": "a b",
	} {
		got, err := readLine(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("readLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Admin commands never create a database: run from another folder (the
// default path is relative) or with a wrong WARD_DATABASE they would make
// an empty one that the running server never sees, and report success.
// They name the database they looked for, and say where to run instead.
func TestAdminNeverCreatesADatabase(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	roster := filepath.Join(dir, "roster.csv")
	if err := os.WriteFile(roster, []byte("localpart,role,password\nalice,provider,a-long-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"admin", "user", "create", "--user", "alice", "--password", "a-long-password"},
		{"admin", "roster", "import", roster},
		{"admin", "role", "set", "alice", "provider"},
		{"admin", "role", "list"},
		{"admin", "token", "create", "--role", "patient"},
		{"admin", "audit", "verify"},
		{"admin", "audit", "checkpoint"},
		{"admin", "audit", "export"},
		{"admin", "audit", "truncate", "--before", "720h"},
	}
	want := filepath.Join(wd, "ward-data", "ward.db")
	for _, args := range commands {
		iv := &invocation{args: args, env: map[string]string{}}
		err := iv.run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no database at "+want) || !strings.Contains(err.Error(), "WARD_DATABASE") {
			t.Errorf("%v: err = %v, want it to name %s and say how to find the server's database", args, err, want)
		}
		if strings.Contains(iv.stdout.String(), "created") {
			t.Errorf("%v: reports a change: %s", args, iv.stdout.String())
		}
		if _, err := os.Stat(filepath.Join(wd, "ward-data")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v: made %s (%v)", args, filepath.Join(wd, "ward-data"), err)
		}
	}

	// A database Ward never set up (an empty PostgreSQL database, an empty
	// file) is refused too, and left as it was.
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		env := sqliteEnv(t)
		env["WARD_DATABASE"] = b.DSN
		if b.Name == "sqlite" {
			if err := os.WriteFile(b.DSN, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		iv := &invocation{args: []string{"admin", "role", "set", "alice", "provider"}, env: env}
		if err := iv.run(context.Background()); err == nil || !strings.Contains(err.Error(), "holds no Ward data") {
			t.Fatalf("empty database: err = %v", err)
		}
		d, err := db.Open(context.Background(), b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if ok, err := d.HasSchema(context.Background()); err != nil || ok {
			t.Fatalf("the admin command set up the database: %v %v", ok, err)
		}
	})

	// Once the server has made it, the commands work on it, and a relative
	// path is resolved and named on stderr.
	if iv := (&invocation{args: []string{"migrate"}, env: map[string]string{}}); iv.run(context.Background()) != nil {
		t.Fatalf("migrate: %s", iv.stderr.String())
	}
	iv := &invocation{args: commands[0], env: map[string]string{}}
	if err := iv.run(context.Background()); err != nil {
		t.Fatalf("user create on the server's database: %v", err)
	}
	if !strings.Contains(iv.stderr.String(), "database "+want) {
		t.Errorf("stderr does not name the database:\n%s", iv.stderr.String())
	}
	// An absolute path is what the operator wrote: it is not repeated.
	for _, dsn := range []string{want, "sqlite://" + want} {
		iv = &invocation{args: []string{"admin", "role", "list"}, env: map[string]string{"WARD_DATABASE": dsn}}
		if err := iv.run(context.Background()); err != nil {
			t.Fatalf("role list on %s: %v", dsn, err)
		}
		if strings.Contains(iv.stderr.String(), "ward: database") {
			t.Errorf("WARD_DATABASE=%s: stderr names the absolute path:\n%s", dsn, iv.stderr.String())
		}
	}
}

// A mistyped WARD_* variable is warned about on stderr, not ignored
// silently, and not an error either.
func TestWarnsAboutUnknownEnvironmentVariables(t *testing.T) {
	iv := &invocation{args: []string{"serve", "--print-config"}, env: map[string]string{"WARD_REGISTRATON": "open", "WARD_SERVER_NAME": "clinic.example"}}
	if err := iv.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "WARD_REGISTRATON sets no configuration key and is ignored (did you mean WARD_REGISTRATION?)"; !strings.Contains(iv.stderr.String(), want) {
		t.Fatalf("stderr lacks %q:\n%s", want, iv.stderr.String())
	}
	if strings.Contains(iv.stderr.String(), "WARD_SERVER_NAME") {
		t.Fatalf("a known variable was warned about:\n%s", iv.stderr.String())
	}
}
