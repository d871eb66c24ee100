// Package config holds Ward's settings: built-in defaults, then a YAML file,
// then WARD_* environment variables (key foo_bar from WARD_FOO_BAR).
// Validate reports every problem at once. No other package reads the
// environment.
package config

import (
	"strings"
	"time"
)

// Config is the whole of Ward's configuration.
type Config struct {
	ServerName    string `yaml:"server_name"`
	Listen        string `yaml:"listen"`
	PublicBaseURL string `yaml:"public_base_url"`
	// Database is a PostgreSQL DSN (postgres://…) or a SQLite file path.
	// Its password is never printed nor logged.
	Database string `yaml:"database" secret:"dsn"`
	DataDir  string `yaml:"data_dir"`
	// Registration is "closed" (default: accounts come from admins and
	// shared-secret registration) or "open" (testing only).
	Registration             string `yaml:"registration"`
	RegistrationSharedSecret string `yaml:"registration_shared_secret" secret:"true"`
	// Policy is "on" (default: the clinic policy decides who may reach
	// whom) or "off" (plain Matrix behaviour, for conformance testing only).
	Policy string `yaml:"policy"`
	// EncryptSchedulingRooms makes scheduling rooms encrypted from
	// creation too (clinical rooms always are while the policy is on).
	EncryptSchedulingRooms bool   `yaml:"encrypt_scheduling_rooms"`
	MaxRequestBytes        int64  `yaml:"max_request_bytes"`
	DefaultRoomVersion     string `yaml:"default_room_version"`
	// MetricsListen is the separate address Prometheus metrics are served
	// on; empty turns them off.
	MetricsListen string `yaml:"metrics_listen"`
	// Pprof serves Go's runtime profiles at /debug/pprof/: on the client
	// API to admins only, and on the metrics listener when that is set.
	Pprof     bool   `yaml:"pprof"`
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
	// AccessTokenLifetime bounds access tokens of clients that asked for a
	// refresh token; 0 means they never expire.
	AccessTokenLifetime time.Duration `yaml:"access_token_lifetime"`
	ShutdownTimeout     time.Duration `yaml:"shutdown_timeout"`
	// RateLimit applies to login and registration per remote address, and
	// to the password stage of User-Interactive Auth per address and per user.
	RateLimitPerSecond float64 `yaml:"rate_limit_per_second"`
	RateLimitBurst     int     `yaml:"rate_limit_burst"`
	// MaxUploadBytes bounds one media upload (uploads are exempt from
	// max_request_bytes and streamed to disk).
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// MemoryLimitBytes is the Go runtime's soft memory limit for `ward
	// serve` (0: none). GOMEMLIMIT in the environment takes precedence.
	MemoryLimitBytes int64 `yaml:"memory_limit_bytes"`
	// MediaQuotaBytes is the total each user may upload; 0 means no quota.
	MediaQuotaBytes int64 `yaml:"media_quota_bytes"`
	// URLPreviews lets preview_url fetch links; off, because a preview
	// sends a patient's link to a third party.
	URLPreviews bool `yaml:"url_previews"`
	// AuditRetention is how long audit entries are kept; older ones are
	// removed through a signed truncation. 0 keeps them forever.
	AuditRetention time.Duration `yaml:"audit_retention"`
}

// Defaults returns the built-in configuration: a server that starts on a
// fresh machine with nothing else set up.
func Defaults() Config {
	return Config{
		ServerName:             "localhost",
		Listen:                 "127.0.0.1:8008",
		PublicBaseURL:          "",
		Database:               "./ward-data/ward.db",
		DataDir:                "./ward-data",
		Registration:           "closed",
		Policy:                 "on",
		EncryptSchedulingRooms: true,
		MaxRequestBytes:        10 << 20,
		DefaultRoomVersion:     "11",
		MetricsListen:          "",
		LogLevel:               "info",
		LogFormat:              "text",
		AccessTokenLifetime:    24 * time.Hour,
		ShutdownTimeout:        15 * time.Second,
		RateLimitPerSecond:     1,
		RateLimitBurst:         10,
		MaxUploadBytes:         50 << 20,
		MemoryLimitBytes:       64 << 20,
		MediaQuotaBytes:        1 << 30,
		URLPreviews:            false,
		AuditRetention:         0,
	}
}

// BaseURL is the URL clients reach the server at, without a trailing "/"
// (clients append paths that start with one).
func (c Config) BaseURL() string {
	if c.PublicBaseURL != "" {
		return strings.TrimRight(c.PublicBaseURL, "/")
	}
	return "http://" + c.Listen
}
