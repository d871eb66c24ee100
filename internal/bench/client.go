package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPClient returns the HTTP client the load generator shares between
// its users: enough idle connections per host for every long-poll and
// every worker at once.
func HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = 4096
	return &http.Client{Transport: tr}
}

// Client is one logged-in Matrix user.
type Client struct {
	Base     string // homeserver base URL, without a trailing slash
	HTTP     *http.Client
	UserID   string
	DeviceID string
	Token    string
}

// MatrixError is an error answer of the server.
type MatrixError struct {
	Status  int
	Code    string `json:"errcode"`
	Message string `json:"error"`
	RetryMS int64  `json:"retry_after_ms"`
	Body    []byte `json:"-"`
}

func (e *MatrixError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// IsUnsupported reports whether err says the server lacks the endpoint.
func IsUnsupported(err error) bool {
	var me *MatrixError
	return errors.As(err, &me) && (me.Status == http.StatusNotFound || me.Status == http.StatusMethodNotAllowed ||
		me.Code == "M_UNRECOGNIZED")
}

// Do sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to drop it). It returns the size of the answer's
// body. Rate-limited requests (429) are retried after the time the server
// asks for.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	u := c.Base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	for {
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return 0, err
		}
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return 0, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			var me MatrixError
			_ = json.Unmarshal(data, &me)
			wait := time.Duration(me.RetryMS) * time.Millisecond
			if wait <= 0 {
				wait = 500 * time.Millisecond
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if resp.StatusCode/100 != 2 {
			me := &MatrixError{Status: resp.StatusCode, Body: data}
			if json.Unmarshal(data, me) != nil || me.Code == "" {
				me.Message = strings.TrimSpace(string(data))
			}
			return len(data), me
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return len(data), fmt.Errorf("%s %s: decode answer: %w", method, path, err)
			}
		}
		return len(data), nil
	}
}

const clientV3 = "/_matrix/client/v3"

type credentials struct {
	UserID      string `json:"user_id"`
	DeviceID    string `json:"device_id"`
	AccessToken string `json:"access_token"`
}

// RegisterShared creates a user through shared-secret registration
// (Synapse admin API: a nonce from GET /_synapse/admin/v1/register, then a
// POST with the HMAC-SHA1 of nonce, username, password and admin flag).
func RegisterShared(ctx context.Context, hc *http.Client, base, secret, username, password string, admin bool) (*Client, error) {
	c := &Client{Base: strings.TrimRight(base, "/"), HTTP: hc}
	var n struct {
		Nonce string `json:"nonce"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/_synapse/admin/v1/register", nil, nil, &n); err != nil {
		return nil, fmt.Errorf("registration nonce: %w", err)
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(n.Nonce + "\x00" + username + "\x00" + password + "\x00"))
	if admin {
		mac.Write([]byte("admin"))
	} else {
		mac.Write([]byte("notadmin"))
	}
	var cr credentials
	body := map[string]any{"nonce": n.Nonce, "username": username, "password": password, "admin": admin,
		"mac": hex.EncodeToString(mac.Sum(nil))}
	if _, err := c.Do(ctx, http.MethodPost, "/_synapse/admin/v1/register", nil, body, &cr); err != nil {
		return nil, fmt.Errorf("register %s: %w", username, err)
	}
	c.UserID, c.DeviceID, c.Token = cr.UserID, cr.DeviceID, cr.AccessToken
	return c, nil
}

// RegisterOpen creates a user through open registration with the single
// stage m.login.dummy (spec: POST /_matrix/client/v3/register).
func RegisterOpen(ctx context.Context, hc *http.Client, base, username, password string) (*Client, error) {
	c := &Client{Base: strings.TrimRight(base, "/"), HTTP: hc}
	body := map[string]any{"username": username, "password": password, "auth": map[string]any{"type": "m.login.dummy"}}
	var cr credentials
	_, err := c.Do(ctx, http.MethodPost, clientV3+"/register", nil, body, &cr)
	var me *MatrixError
	if errors.As(err, &me) && me.Status == http.StatusUnauthorized {
		// The server wants the dummy stage completed inside the UIA
		// session its answer started.
		var uia struct {
			Session string `json:"session"`
		}
		if json.Unmarshal(me.Body, &uia) == nil && uia.Session != "" {
			body["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
			_, err = c.Do(ctx, http.MethodPost, clientV3+"/register", nil, body, &cr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", username, err)
	}
	c.UserID, c.DeviceID, c.Token = cr.UserID, cr.DeviceID, cr.AccessToken
	return c, nil
}
