package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"ward/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ward.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	if err := config.Defaults().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	cfg, err := config.Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, config.Defaults()) {
		t.Fatalf("Load with nothing set = %+v, want the defaults", cfg)
	}
	if cfg.Registration != "closed" {
		t.Errorf("default registration = %q, want closed", cfg.Registration)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string // "" means no file
		env     map[string]string
		check   func(t *testing.T, c config.Config)
		wantErr string
	}{
		{
			name: "file overrides defaults",
			file: "server_name: clinic.example.org\nlisten: 0.0.0.0:9000\nshutdown_timeout: 30s\nrate_limit_per_second: 2.5\nmax_request_bytes: 1024\n",
			check: func(t *testing.T, c config.Config) {
				want := config.Defaults()
				want.ServerName = "clinic.example.org"
				want.Listen = "0.0.0.0:9000"
				want.ShutdownTimeout = 30 * time.Second
				want.RateLimitPerSecond = 2.5
				want.MaxRequestBytes = 1024
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "environment overrides file",
			file: "server_name: from-file.example\nlog_level: debug\n",
			env: map[string]string{
				"WARD_SERVER_NAME":                "from-env.example",
				"WARD_SHUTDOWN_TIMEOUT":           "1m30s",
				"WARD_MAX_REQUEST_BYTES":          "2048",
				"WARD_RATE_LIMIT_PER_SECOND":      "0.5",
				"WARD_RATE_LIMIT_BURST":           "3",
				"WARD_REGISTRATION_SHARED_SECRET": "s3cret",
			},
			check: func(t *testing.T, c config.Config) {
				if c.ServerName != "from-env.example" {
					t.Errorf("server_name = %q", c.ServerName)
				}
				if c.LogLevel != "debug" {
					t.Errorf("log_level = %q, want the file's debug", c.LogLevel)
				}
				if c.ShutdownTimeout != 90*time.Second || c.MaxRequestBytes != 2048 ||
					c.RateLimitPerSecond != 0.5 || c.RateLimitBurst != 3 || c.RegistrationSharedSecret != "s3cret" {
					t.Errorf("env not applied: %+v", c)
				}
			},
		},
		{
			name: "empty variable counts as unset",
			env:  map[string]string{"WARD_LISTEN": ""},
			check: func(t *testing.T, c config.Config) {
				if c.Listen != config.Defaults().Listen {
					t.Errorf("listen = %q", c.Listen)
				}
			},
		},
		{name: "empty file is fine", file: "\n", check: func(t *testing.T, c config.Config) {}},
		{name: "unknown key in file", file: "server_nmae: x\n", wantErr: "server_nmae"},
		{name: "wrong type in file", file: "max_request_bytes: lots\n", wantErr: "line 1"},
		{name: "int duration in file", file: "shutdown_timeout: 30\n", wantErr: "shutdown_timeout"},
		{name: "whole number in file", file: "max_request_bytes: 1e3\n", wantErr: "max_request_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			c, err := config.Load(path, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	_, err := config.Load("", env(map[string]string{"WARD_SHUTDOWN_TIMEOUT": "soon", "WARD_RATE_LIMIT_BURST": "many"}))
	for _, want := range []string{"WARD_SHUTDOWN_TIMEOUT", "WARD_RATE_LIMIT_BURST"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %s", err, want)
		}
	}
}

// TestLoadRefusesWhatWouldBeMisread: a fraction for a whole number is not
// truncated, NaN and infinity are no rate, a second document is not
// dropped, and a key given twice is not decided silently, for every key of
// the kind, from the file and from the environment.
func TestLoadRefusesWhatWouldBeMisread(t *testing.T) {
	var intKeys, floatKeys []string
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
		case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Uint64:
			intKeys = append(intKeys, key)
		case f.Type.Kind() == reflect.Float32 || f.Type.Kind() == reflect.Float64:
			floatKeys = append(floatKeys, key)
		}
	}
	if len(intKeys) == 0 || len(floatKeys) == 0 {
		t.Fatalf("no int (%v) or float (%v) keys found", intKeys, floatKeys)
	}
	type tc struct {
		name, file string
		env        map[string]string
		want       string
	}
	var tests []tc
	for _, k := range intKeys {
		tests = append(tests,
			tc{name: k + " fraction in file", file: k + ": 1.5\n", want: k},
			tc{name: k + " fraction in env", env: map[string]string{config.EnvName(k): "1.5"}, want: config.EnvName(k)})
	}
	for _, k := range floatKeys {
		for _, bad := range []string{".nan", ".inf", "-.inf", ".NaN"} {
			tests = append(tests, tc{name: k + " " + bad + " in file", file: k + ": " + bad + "\n", want: k})
		}
		for _, bad := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity"} {
			tests = append(tests, tc{name: k + " " + bad + " in env", env: map[string]string{config.EnvName(k): bad}, want: config.EnvName(k)})
		}
	}
	tests = append(tests,
		tc{name: "second document", file: "server_name: a.example\n---\nserver_name: b.example\n", want: "second YAML document"},
		tc{name: "key twice", file: "server_name: a.example\nserver_name: b.example\n", want: "given twice"},
		tc{name: "not a mapping", file: "- server_name\n", want: "mapping"},
		tc{name: "list value", file: "listen: [a, b]\n", want: "listen"},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := config.Load(path, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			unread := false
			for _, p := range config.Problems(err) {
				unread = unread || p.Unread
			}
			if !unread {
				t.Errorf("no problem marked Unread: %v", err)
			}
		})
	}
}

// TestLoadReportsEverythingAtOnce: type errors in the file, type errors in
// the environment and the semantic problems of what could be read come in
// one error.
func TestLoadReportsEverythingAtOnce(t *testing.T) {
	path := writeFile(t, "max_upload_bytes: 1.5\nserver_nmae: x\nlog_level: loud\nrate_limit_burst: many\n")
	_, err := config.Load(path, env(map[string]string{
		"WARD_SHUTDOWN_TIMEOUT":      "soon",
		"WARD_RATE_LIMIT_PER_SECOND": "NaN",
		"WARD_REGISTRATION":          "sometimes",
		"WARD_DATABASE":              "mysql://x",
	}))
	got := map[string]bool{}
	for _, p := range config.Problems(err) {
		got[p.Key] = true
	}
	for _, want := range []string{"max_upload_bytes", "server_nmae", "rate_limit_burst", "log_level",
		"WARD_SHUTDOWN_TIMEOUT", "WARD_RATE_LIMIT_PER_SECOND", "registration", "database"} {
		if !got[want] {
			t.Errorf("no problem for %s in:\n%v", want, err)
		}
	}
	// An unreadable file does not hide the environment's problems.
	_, err = config.Load(filepath.Join(t.TempDir(), "nope.yaml"), env(map[string]string{"WARD_RATE_LIMIT_BURST": "many", "WARD_LOG_LEVEL": "loud"}))
	for _, want := range []string{"nope.yaml", "WARD_RATE_LIMIT_BURST", "log_level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %s", err, want)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ward:pgpass999@db.example:5432/ward?sslmode=disable": "postgres://ward:<redacted>@db.example:5432/ward?sslmode=disable",
		"postgresql://ward:p%40ss@db/ward":                               "postgresql://ward:<redacted>@db/ward",
		"postgres://ward:p@ss@db/ward":                                   "postgres://ward:<redacted>@db/ward",
		"postgres://ward@db/ward?password=pgpass999&sslmode=disable":     "postgres://ward@db/ward?password=<redacted>&sslmode=disable",
		"postgres://ward@db/ward":                                        "postgres://ward@db/ward",
		"host=db user=ward password=pgpass999 dbname=ward":               "host=db user=ward password=<redacted> dbname=ward",
		"host=db password='pg pass\\' 999' dbname=ward":                  "host=db password=<redacted> dbname=ward",
		"host=db PASSWORD = pgpass999":                                   "host=db PASSWORD = <redacted>",
		"./ward-data/ward.db":                                            "./ward-data/ward.db",
	} {
		got := config.RedactDSN(in)
		if got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(got, "pgpass999") || strings.Contains(got, "pg pass") {
			t.Errorf("RedactDSN(%q) still holds the password", in)
		}
	}
	dsn := "postgres://ward:pgpass999@db/ward"
	err := config.ScrubDSN(errors.New(`connect to postgres "`+dsn+`": password pgpass999 refused`), dsn)
	if strings.Contains(err.Error(), "pgpass999") {
		t.Errorf("ScrubDSN left the password: %v", err)
	}
}

// TestPrintRedactsTheDatabasePassword: --print-config shows where Ward
// connects, never with what password.
func TestPrintRedactsTheDatabasePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://ward:pgpass999@db.example/ward",
		"host=db.example user=ward password=pgpass999 dbname=ward",
	} {
		c := config.Defaults()
		c.Database = dsn
		var buf bytes.Buffer
		if err := c.Print(&buf); err != nil {
			t.Fatal(err)
		}
		if out := buf.String(); strings.Contains(out, "pgpass999") || !strings.Contains(out, "db.example") || !strings.Contains(out, "<redacted>") {
			t.Errorf("printed:\n%s", out)
		}
		// The printed setting, loaded back, is refused rather than tried
		// with "<redacted>" as the password.
		c.Database = config.RedactDSN(dsn)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "database") {
			t.Errorf("placeholder password accepted: %v", err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), nil); err == nil {
		t.Fatal("want an error for a missing file")
	}
}

// Every key can be set from the environment, so an operator never needs a
// file in a container.
func TestEveryKeyHasAnEnvironmentVariable(t *testing.T) {
	values := map[string]string{}
	for _, k := range config.Keys() {
		values[config.EnvName(k)] = "1"
	}
	// Durations need a unit; strings take "1"; numbers parse "1".
	values["WARD_SHUTDOWN_TIMEOUT"] = "1s"
	values["WARD_ACCESS_TOKEN_LIFETIME"] = "1s"
	values["WARD_AUDIT_RETENTION"] = "1s"
	seen := map[string]bool{}
	getenv := func(k string) string { seen[k] = true; return values[k] }
	if _, err := config.Read("", getenv); err != nil {
		t.Fatalf("setting every key from the environment: %v", err)
	}
	for _, k := range config.Keys() {
		if !seen[config.EnvName(k)] {
			t.Errorf("key %s: %s never read", k, config.EnvName(k))
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   []string // keys with problems; empty means valid
	}{
		{name: "defaults", mutate: func(c *config.Config) {}},
		{name: "empty server name", mutate: func(c *config.Config) { c.ServerName = "" }, want: []string{"server_name"}},
		{name: "server name with port", mutate: func(c *config.Config) { c.ServerName = "clinic.example:8448" }},
		{name: "server name with space", mutate: func(c *config.Config) { c.ServerName = "my clinic" }, want: []string{"server_name"}},
		{name: "listen without port", mutate: func(c *config.Config) { c.Listen = "localhost" }, want: []string{"listen"}},
		{name: "listen bad port", mutate: func(c *config.Config) { c.Listen = "localhost:99999" }, want: []string{"listen"}},
		{name: "registration", mutate: func(c *config.Config) { c.Registration = "invite" }, want: []string{"registration"}},
		{name: "open registration allowed", mutate: func(c *config.Config) { c.Registration = "open" }},
		{name: "max bytes zero", mutate: func(c *config.Config) { c.MaxRequestBytes = 0 }, want: []string{"max_request_bytes"}},
		{name: "room version 9", mutate: func(c *config.Config) { c.DefaultRoomVersion = "9" }, want: []string{"default_room_version"}},
		{name: "room version 12", mutate: func(c *config.Config) { c.DefaultRoomVersion = "12" }},
		{name: "log level", mutate: func(c *config.Config) { c.LogLevel = "verbose" }, want: []string{"log_level"}},
		{name: "log format", mutate: func(c *config.Config) { c.LogFormat = "xml" }, want: []string{"log_format"}},
		{name: "base url ftp", mutate: func(c *config.Config) { c.PublicBaseURL = "ftp://x" }, want: []string{"public_base_url"}},
		{name: "base url no scheme", mutate: func(c *config.Config) { c.PublicBaseURL = "clinic.example" }, want: []string{"public_base_url"}},
		{name: "base url https", mutate: func(c *config.Config) { c.PublicBaseURL = "https://matrix.clinic.example" }},
		{name: "metrics same as listen", mutate: func(c *config.Config) { c.MetricsListen = c.Listen }, want: []string{"metrics_listen"}},
		{name: "metrics wildcard same port", mutate: func(c *config.Config) { c.MetricsListen = ":8008" }, want: []string{"metrics_listen"}},
		{name: "metrics localhost vs 127.0.0.1", mutate: func(c *config.Config) { c.Listen = "127.0.0.1:8008"; c.MetricsListen = "localhost:8008" },
			want: []string{"metrics_listen"}},
		{name: "metrics 127.0.0.1 vs localhost", mutate: func(c *config.Config) { c.Listen = "localhost:8008"; c.MetricsListen = "127.0.0.1:8008" },
			want: []string{"metrics_listen"}},
		{name: "metrics ::1 vs localhost", mutate: func(c *config.Config) { c.Listen = "LOCALHOST:8008"; c.MetricsListen = "[::1]:8008" },
			want: []string{"metrics_listen"}},
		{name: "metrics 0.0.0.0 same port", mutate: func(c *config.Config) { c.MetricsListen = "0.0.0.0:8008" }, want: []string{"metrics_listen"}},
		{name: "metrics [::] same port", mutate: func(c *config.Config) { c.Listen = "localhost:8008"; c.MetricsListen = "[::]:8008" },
			want: []string{"metrics_listen"}},
		{name: "metrics mapped v4 same port", mutate: func(c *config.Config) { c.MetricsListen = "[::ffff:127.0.0.1]:8008" },
			want: []string{"metrics_listen"}},
		{name: "metrics padded port", mutate: func(c *config.Config) { c.MetricsListen = "127.0.0.1:08008" }, want: []string{"metrics_listen"}},
		{name: "metrics other loopback", mutate: func(c *config.Config) { c.MetricsListen = "127.0.0.2:8008" }},
		{name: "metrics localhost other port", mutate: func(c *config.Config) { c.MetricsListen = "localhost:9090" }},
		{name: "database mysql", mutate: func(c *config.Config) { c.Database = "mysql://x" }, want: []string{"database"}},
		{name: "database other scheme", mutate: func(c *config.Config) { c.Database = "sqlserver://db/ward" }, want: []string{"database"}},
		{name: "database sqlite url", mutate: func(c *config.Config) { c.Database = "sqlite:///var/lib/ward/ward.db" }},
		{name: "database file url", mutate: func(c *config.Config) { c.Database = "file:ward.db" }},
		{name: "database postgresql", mutate: func(c *config.Config) { c.Database = "postgresql://ward@db/ward" }},
		{name: "database key/value", mutate: func(c *config.Config) { c.Database = "host=db dbname=ward" }},
		{name: "database windows path", mutate: func(c *config.Config) { c.Database = `C:\ward\ward.db` }},
		{name: "metrics other port", mutate: func(c *config.Config) { c.MetricsListen = "127.0.0.1:9090" }},
		{name: "both on port 0", mutate: func(c *config.Config) { c.Listen = "127.0.0.1:0"; c.MetricsListen = "127.0.0.1:0" }},
		{name: "metrics not host:port", mutate: func(c *config.Config) { c.MetricsListen = "9090" }, want: []string{"metrics_listen"}},
		{name: "secret left as printed placeholder", mutate: func(c *config.Config) { c.RegistrationSharedSecret = "<redacted>" },
			want: []string{"registration_shared_secret"}},
		{name: "upload limit zero", mutate: func(c *config.Config) { c.MaxUploadBytes = 0 }, want: []string{"max_upload_bytes"}},
		{name: "media quota negative", mutate: func(c *config.Config) { c.MediaQuotaBytes = -1 }, want: []string{"media_quota_bytes"}},
		{name: "media quota off", mutate: func(c *config.Config) { c.MediaQuotaBytes = 0 }},
		{name: "database empty", mutate: func(c *config.Config) { c.Database = "" }, want: []string{"database"}},
		{name: "shutdown timeout", mutate: func(c *config.Config) { c.ShutdownTimeout = 0 }, want: []string{"shutdown_timeout"}},
		{name: "token lifetime negative", mutate: func(c *config.Config) { c.AccessTokenLifetime = -time.Second }, want: []string{"access_token_lifetime"}},
		{name: "audit retention negative", mutate: func(c *config.Config) { c.AuditRetention = -time.Hour }, want: []string{"audit_retention"}},
		{name: "rate limits", mutate: func(c *config.Config) { c.RateLimitPerSecond = 0; c.RateLimitBurst = -1 },
			want: []string{"rate_limit_per_second", "rate_limit_burst"}},
		{
			name: "every problem at once",
			mutate: func(c *config.Config) {
				c.ServerName = ""
				c.Listen = "nope"
				c.Registration = "maybe"
				c.MaxRequestBytes = -1
				c.DefaultRoomVersion = "1"
				c.LogLevel = "loud"
				c.LogFormat = "xml"
				c.PublicBaseURL = "gopher://x"
			},
			want: []string{"server_name", "listen", "public_base_url", "registration", "max_request_bytes",
				"default_room_version", "log_level", "log_format"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Defaults()
			tt.mutate(&c)
			err := c.Validate()
			var got []string
			for _, p := range config.Problems(err) {
				got = append(got, p.Key)
				if !strings.Contains(err.Error(), p.Key+": ") {
					t.Errorf("error text %q does not name %s", err, p.Key)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("problems with %v, want %v (err: %v)", got, want, err)
			}
			if (err == nil) != (len(want) == 0) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	tests := []struct {
		name       string
		secret     string
		wantSecret string
	}{
		{name: "secret set", secret: "hunter2-very-secret", wantSecret: "<redacted>"},
		{name: "secret unset", secret: "", wantSecret: "<unset>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Defaults()
			c.RegistrationSharedSecret = tt.secret
			c.ShutdownTimeout = 42 * time.Second
			var buf bytes.Buffer
			if err := c.Print(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if tt.secret != "" && strings.Contains(out, tt.secret) {
				t.Fatalf("printed config holds the secret:\n%s", out)
			}
			var m map[string]any
			if err := yaml.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("output is not YAML: %v\n%s", err, out)
			}
			if m["registration_shared_secret"] != tt.wantSecret {
				t.Errorf("secret printed as %v, want %s", m["registration_shared_secret"], tt.wantSecret)
			}
			for _, k := range config.Keys() {
				if _, ok := m[k]; !ok {
					t.Errorf("key %s missing from output", k)
				}
			}
			if m["shutdown_timeout"] != "42s" {
				t.Errorf("shutdown_timeout printed as %v, want 42s", m["shutdown_timeout"])
			}
		})
	}
}

// The printed configuration (secrets aside) loads back to the same values,
// so an operator can start a file from `ward serve --print-config`.
func TestPrintRoundTrips(t *testing.T) {
	c := config.Defaults()
	c.ServerName = "clinic.example"
	c.PublicBaseURL = "https://matrix.clinic.example"
	var buf bytes.Buffer
	if err := c.Print(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := config.Read(writeFile(t, buf.String()), nil)
	if err != nil {
		t.Fatalf("load printed config: %v\n%s", err, buf.String())
	}
	back.RegistrationSharedSecret = c.RegistrationSharedSecret
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, c)
	}
}

// The README's configuration table lists every key with its variable, so
// a new key cannot go undocumented.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	body, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skipf("no README beside the module: %v", err)
	}
	for _, k := range config.Keys() {
		row := "| `" + k + "` |"
		if !strings.Contains(string(body), row) || !strings.Contains(string(body), "`"+config.EnvName(k)+"`") {
			t.Errorf("README.md has no configuration row for %s (%s)", k, config.EnvName(k))
		}
	}
}

// A value of the wrong type is worded for a person, with the key, what it
// takes and what it got, never in the YAML library's Go terms.
func TestWrongTypesAreWordedForPeople(t *testing.T) {
	file := writeFile(t, "audit_retention: forever\npprof: 7\nrate_limit_burst: lots\nmax_upload_bytes: 1.5\nshutdown_timeout: 30\n")
	_, err := config.Load(file, env(map[string]string{"WARD_URL_PREVIEWS": "maybe", "WARD_ACCESS_TOKEN_LIFETIME": "a day"}))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`audit_retention: line 1 of ` + file + `: want a duration such as 30s or 24h, got "forever"`,
		`pprof: line 2 of ` + file + `: want true or false, got "7"`,
		`rate_limit_burst: line 3 of ` + file + `: want a whole number, got "lots"`,
		`max_upload_bytes: line 4 of ` + file + `: want a whole number, got "1.5"`,
		`shutdown_timeout: line 5 of ` + file + `: want a duration such as 30s or 24h, got "30"`,
		`WARD_URL_PREVIEWS: want true or false, got "maybe"`,
		`WARD_ACCESS_TOKEN_LIFETIME: want a duration such as 30s or 24h, got "a day"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, internal := range []string{"unmarshal", "!!", "time.Duration", "bool"} {
		if strings.Contains(msg, internal) {
			t.Errorf("error shows %q:\n%s", internal, msg)
		}
	}
}

// WARD_* variables that set no key are found, with the one meant.
func TestUnknownEnv(t *testing.T) {
	names, meant := config.UnknownEnv([]string{"WARD_REGISTRATON=open", "WARD_LISTEN=x", "WARD_CONFIG=f", "HOME=/",
		"WARD_TEST_POSTGRES=x", "WARD_COLOUR=blue", "WARD_DATABASE=a=b"})
	if strings.Join(names, ",") != "WARD_REGISTRATON,WARD_COLOUR" || strings.Join(meant, ",") != "WARD_REGISTRATION," {
		t.Fatalf("UnknownEnv = %q, %q", names, meant)
	}
}
