package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Supported values of the keys that take one of a few words.
var (
	RoomVersions  = []string{"10", "11", "12"}
	LogLevels     = []string{"debug", "info", "warn", "error"}
	LogFormats    = []string{"text", "json"}
	Registrations = []string{"closed", "open"}
)

// Problem is one thing wrong with a configuration, named by its key.
type Problem struct {
	Key    string
	Reason string
	// Unread marks a value that could not be read at all (a type error in
	// the file or the environment, or a file that cannot be read): the key
	// kept its earlier value, so the configuration is not what was written.
	Unread bool
}

func (p Problem) Error() string { return p.Key + ": " + p.Reason }

// Validate reports every problem of the configuration at once, so that an
// operator fixes the file in one go. The result is nil or an errors.Join
// of Problem values.
func (c Config) Validate() error {
	var ps []error
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Reason: fmt.Sprintf(format, args...)})
	}

	if c.ServerName == "" {
		add("server_name", "must be set (the domain in user IDs, like clinic.example.org)")
	} else if err := checkServerName(c.ServerName); err != nil {
		add("server_name", "%v", err)
	}
	if err := checkHostPort(c.Listen); err != nil {
		add("listen", "%v", err)
	}
	if c.PublicBaseURL != "" {
		if err := checkHTTPURL(c.PublicBaseURL); err != nil {
			add("public_base_url", "%v", err)
		}
	}
	if c.Database == "" {
		add("database", "must be set (a postgres:// URL or a SQLite file path)")
	} else if err := checkDatabase(c.Database); err != nil {
		add("database", "%v", err)
	}
	if !slices.Contains(Registrations, c.Registration) {
		add("registration", "must be one of %s, got %q", strings.Join(Registrations, ", "), c.Registration)
	}
	if c.Policy != "on" && c.Policy != "off" {
		add("policy", "must be on or off, got %q", c.Policy)
	}
	if c.MemoryLimitBytes < 0 {
		add("memory_limit_bytes", "must be 0 (no limit) or a number of bytes, got %d", c.MemoryLimitBytes)
	}
	if c.MaxRequestBytes <= 0 {
		add("max_request_bytes", "must be greater than 0, got %d", c.MaxRequestBytes)
	}
	if !slices.Contains(RoomVersions, c.DefaultRoomVersion) {
		add("default_room_version", "must be one of %s, got %q", strings.Join(RoomVersions, ", "), c.DefaultRoomVersion)
	}
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen); err != nil {
			add("metrics_listen", "%v", err)
		} else if sameAddress(c.MetricsListen, c.Listen) {
			add("metrics_listen", "must differ from listen (%s): metrics are served apart from the client API", c.Listen)
		}
	}
	if !slices.Contains(LogLevels, c.LogLevel) {
		add("log_level", "must be one of %s, got %q", strings.Join(LogLevels, ", "), c.LogLevel)
	}
	if !slices.Contains(LogFormats, c.LogFormat) {
		add("log_format", "must be one of %s, got %q", strings.Join(LogFormats, ", "), c.LogFormat)
	}
	if c.AccessTokenLifetime < 0 {
		add("access_token_lifetime", "must not be negative, got %s", c.AccessTokenLifetime)
	}
	if c.AuditRetention < 0 {
		add("audit_retention", "must not be negative (0 keeps entries forever), got %s", c.AuditRetention)
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout", "must be greater than 0, got %s", c.ShutdownTimeout)
	}
	if c.RateLimitPerSecond <= 0 {
		add("rate_limit_per_second", "must be greater than 0, got %g", c.RateLimitPerSecond)
	}
	if c.RateLimitBurst <= 0 {
		add("rate_limit_burst", "must be greater than 0, got %d", c.RateLimitBurst)
	}
	if c.MaxUploadBytes <= 0 {
		add("max_upload_bytes", "must be greater than 0, got %d", c.MaxUploadBytes)
	}
	if c.MediaQuotaBytes < 0 {
		add("media_quota_bytes", "must not be negative (0 means no quota), got %d", c.MediaQuotaBytes)
	}
	v := reflect.ValueOf(c)
	for _, f := range fields() {
		if f.secret && v.Field(f.index).Kind() == reflect.String {
			if s := v.Field(f.index).String(); s == "<redacted>" || s == "<unset>" {
				add(f.key, "holds the placeholder %q from --print-config: set the real value or remove the line", s)
			}
		}
	}
	return errors.Join(ps...)
}

// urlScheme matches the scheme of a URL; one letter is a Windows drive.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// checkDatabase refuses a setting that looks like a URL of a database Ward
// does not speak (mysql://…), which would otherwise become the name of a
// new SQLite file, and a password left as --print-config's placeholder.
func checkDatabase(dsn string) error {
	if m := urlScheme.FindStringSubmatch(dsn); m != nil {
		switch strings.ToLower(m[1]) {
		case "postgres", "postgresql":
			if _, err := url.Parse(dsn); err != nil {
				return fmt.Errorf("not a valid postgres:// URL: %v", strings.ReplaceAll(err.Error(), dsn, RedactDSN(dsn)))
			}
		case "sqlite", "file":
			if strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:") == "" {
				return errors.New("names no SQLite file")
			}
		default:
			return fmt.Errorf("%s: is not a database Ward supports: give a postgres:// URL or a SQLite file path", m[1])
		}
	}
	if strings.Contains(dsn, ":"+Redacted+"@") || strings.Contains(dsn, "password="+Redacted) {
		return fmt.Errorf("holds the placeholder %q from --print-config: set the real password", Redacted)
	}
	return nil
}

// Problems unpacks the result of Validate into its problems.
func Problems(err error) []Problem {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []Problem
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var p Problem
	if errors.As(err, &p) {
		return []Problem{p}
	}
	return nil
}

// checkServerName follows the spec's server name grammar (appendix "Server
// Name"): a DNS name or IP literal, with an optional port.
func checkServerName(name string) error {
	host := name
	if h, port, err := net.SplitHostPort(name); err == nil {
		if err := checkPort(port); err != nil {
			return err
		}
		host = h
	} else if strings.HasPrefix(name, "[") {
		host = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	}
	if host == "" {
		return fmt.Errorf("%q has no host name", name)
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if len(host) > 255 {
		return fmt.Errorf("%q is longer than 255 characters", name)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("%q is not a valid server name (letters, digits, '-' and '.' and an optional :port)", name)
		}
	}
	return nil
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("must be set, as host:port (like 127.0.0.1:8008)")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port (like 127.0.0.1:8008), got %q", addr)
	}
	return checkPort(port)
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http:// or https:// URL, got %q", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not have a query or fragment, got %q", raw)
	}
	return nil
}

// sameAddress reports whether two host:port addresses would collide: the
// same port on the same host, where "localhost" is 127.0.0.1 and ::1 and
// an IP is compared as an address (127.0.0.1 and ::ffff:127.0.0.1 are
// one), or the same port where either side is a wildcard (all addresses).
// Port 0 picks a free port each time, so it never collides.
func sameAddress(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	an, err1 := strconv.Atoi(ap)
	bn, err2 := strconv.Atoi(bp)
	if err1 != nil || err2 != nil || an != bn || an == 0 {
		return false
	}
	as, bs := hostAddrs(ah), hostAddrs(bh)
	if as == nil || bs == nil {
		return true // a wildcard
	}
	for _, x := range as {
		for _, y := range bs {
			if x == y {
				return true
			}
		}
	}
	return false
}

// hostAddrs is what a listen host stands for: nil for a wildcard, the
// loopback addresses for localhost, the address of an IP, else the name.
func hostAddrs(h string) []string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "" {
		return nil
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return []string{"127.0.0.1", "::1"}
	}
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsUnspecified() {
			return nil
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		return []string{ip.String()}
	}
	return []string{h}
}
