package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/placement"
)

// WantVersion is the microversion the client speaks when the server offers
// it (the newest Placement and novakit's placement/api implement).
var wantVersion = placement.Version{Major: 1, Minor: 39}

// MinServerVersion is the oldest server maximum microversion the client
// accepts (Placement 1.28, Rocky: consumer generations).
var minServerVersion = placement.Version{Major: 1, Minor: 28}

// TokenSource supplies the X-Auth-Token of each request. Token is called
// once per request; implementations cache and renew the token themselves
// and must be safe for concurrent use. An error aborts the request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// TokenInvalidator is an optional TokenSource extension for tokens that
// expire: when the server answers 401, the client calls Invalidate with the
// refused token and retries the request once with a new one from Token.
type TokenInvalidator interface {
	Invalidate(token string)
}

// StaticToken returns a TokenSource that always answers tok (an admin
// token, or "admin" for a noauth2 Placement).
func StaticToken(tok string) TokenSource {
	return TokenFunc(func(context.Context) (string, error) { return tok, nil })
}

// CredentialsToken returns a TokenSource that forwards the token of the
// caller's credentials in the request context (identity.FromContext), for
// calls made on the caller's behalf; without credentials it answers
// fallback (which may be nil: then the request fails).
func CredentialsToken(fallback TokenSource) TokenSource {
	return TokenFunc(func(ctx context.Context) (string, error) {
		if c, ok := identity.FromContext(ctx); ok && c.Token != "" {
			return c.Token, nil
		}
		if fallback == nil {
			return "", fmt.Errorf("placement client: no credentials in the context: %w", identity.ErrUnauthorized)
		}
		return fallback.Token(ctx)
	})
}

// Options configure a Client.
type Options struct {
	// Token supplies X-Auth-Token (nil: no token is sent, which only a
	// server without authentication accepts).
	Token TokenSource
	// HTTPClient sends the requests (nil: a client of its own whose
	// transport keeps up to 64 idle connections to the server, so
	// concurrent callers reuse connections).
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent (default "novakit-placement-client").
	UserAgent string
}

// Client is a Placement API client with the method set of
// *placement.Index, so that whatever uses an Index in-process (scheduler,
// conductor, resource tracker, placement/api) can use a remote Placement —
// novakit's or OpenStack's — instead. Errors are those the Index returns:
// *placement.Error values matching placement.ErrNotFound,
// ErrGenerationConflict, ErrConsumerGenerationConflict, ErrCapacityExceeded,
// … with Placement's error code, wrapping an *HTTPError that carries the
// status and the server's request id. Failures to reach the server are
// returned wrapped, matching no placement sentinel; ctx's error is returned
// when ctx ends first.
//
// The client negotiates the microversion once (GET /, retried until it
// succeeds): it speaks 1.39, or the server's newest when older (down to
// 1.28), leaving out what the older one lacks (consumer types before
// 1.38, mappings before 1.34). Every request carries a fresh
// X-Openstack-Request-Id (req-UUID), or the one in the context
// (WithRequestID), which Placement logs as the global request id.
//
// A Client is safe for concurrent use and reuses connections.
type Client struct {
	base  string
	hc    *http.Client
	token TokenSource
	ua    string

	mu         sync.Mutex
	negotiated placement.Version // zero until negotiated
}

// New returns a client of the Placement API at endpoint (e.g.
// "http://127.0.0.1:8778", with or without a path prefix such as
// "/placement"). It does not contact the server; the first call does.
// Errors: a malformed endpoint.
func New(endpoint string, o Options) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("placement client: endpoint %q: want an http:// or https:// URL", endpoint)
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), hc: o.HTTPClient, token: o.Token, ua: o.UserAgent}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 64
		tr.IdleConnTimeout = 90 * time.Second
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		c.hc = &http.Client{Transport: tr}
	}
	if c.ua == "" {
		c.ua = "novakit-placement-client"
	}
	return c, nil
}

// Close releases idle connections. The client remains usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

type requestIDKey struct{}

// WithRequestID returns a context whose Placement requests carry id (of
// the form req-UUID, as Nova's global request id) as
// X-Openstack-Request-Id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// HTTPError describes a refused request: the status, Placement's error
// code and detail, and the server's request id. Client errors wrap it
// (errors.As) inside the *placement.Error.
type HTTPError struct {
	Method, Path string
	Status       int
	Code         string
	Detail       string
	RequestID    string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: %d", e.Method, e.Path, e.Status)
	if e.Detail != "" {
		s += " " + e.Detail
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// ErrForbidden: the policy refused the call (HTTP 403). 401 matches
// identity.ErrUnauthorized.
var ErrForbidden = errors.New("placement client: forbidden by policy")

// ErrUnavailable: the server answered 5xx (database or identity service
// down, overload); the call may be retried.
var ErrUnavailable = errors.New("placement client: service unavailable")

// Version returns the negotiated microversion, negotiating it if needed.
func (c *Client) Version(ctx context.Context) (placement.Version, error) {
	c.mu.Lock()
	v := c.negotiated
	c.mu.Unlock()
	if v != (placement.Version{}) {
		return v, nil
	}
	var doc struct {
		Versions []struct {
			ID         string `json:"id"`
			MaxVersion string `json:"max_version"`
		} `json:"versions"`
	}
	if _, err := c.send(ctx, "GET", "/", placement.Version{}, nil, &doc, opGeneric); err != nil {
		return placement.Version{}, err
	}
	v = placement.Version{Major: 1, Minor: 0}
	for _, d := range doc.Versions {
		if d.MaxVersion == "" {
			continue
		}
		mv, err := placement.ParseVersion(d.MaxVersion)
		if err == nil && mv.Compare(v) > 0 {
			v = mv
		}
	}
	if v.Compare(wantVersion) > 0 {
		v = wantVersion
	}
	if v.Compare(minServerVersion) < 0 {
		return placement.Version{}, fmt.Errorf("placement client: %s: the server's newest microversion is %s, %s or later is needed", c.base, v, minServerVersion)
	}
	c.mu.Lock()
	c.negotiated = v
	c.mu.Unlock()
	return v, nil
}

// op tells the error mapping which sentinel a 409 without a specific code
// means for the call, as the Index would return it.
type op int

const (
	opGeneric op = iota
	opAllocations
	opClassOrTrait     // delete of a class or trait: 409 is in use
	opCreateClass      // 409 is a duplicate
	opProviderGenWrite // 409 is a generation conflict
)

// send performs one request at microversion v (zero: no header) with body
// marshalled as JSON (nil: none) and decodes a 2xx JSON answer into out
// (nil: discard; a *bytes.Buffer receives the raw body). It returns the response (body consumed) or the mapped
// error.
func (c *Client) send(ctx context.Context, method, path string, v placement.Version, body, out any, kind op) (*http.Response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("placement client: %s %s: encoding the body: %w", method, path, err)
		}
	}
	rid, _ := ctx.Value(requestIDKey{}).(string)
	if rid == "" {
		rid = "req-" + uuid.NewString()
	}
	for attempt := 0; ; attempt++ {
		resp, tok, err := c.do(ctx, method, path, v, payload, rid)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			// An expired token: a source that can renew gets one chance.
			if inv, ok := c.token.(TokenInvalidator); ok && tok != "" {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				inv.Invalidate(tok)
				continue
			}
		}
		return c.finish(ctx, method, path, resp, out, kind)
	}
}

// do sends one attempt and returns the response and the token it carried.
func (c *Client) do(ctx context.Context, method, path string, v placement.Version, payload []byte, rid string) (*http.Response, string, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, "", fmt.Errorf("placement client: %s %s: %w", method, path, err)
	}
	h := req.Header
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.ua)
	if payload != nil {
		h.Set("Content-Type", "application/json")
	}
	if v != (placement.Version{}) {
		h.Set("OpenStack-API-Version", "placement "+v.String())
	}
	h.Set("X-Openstack-Request-Id", rid)
	var tok string
	if c.token != nil {
		if tok, err = c.token.Token(ctx); err != nil {
			return nil, "", fmt.Errorf("placement client: %s %s: getting a token: %w", method, path, err)
		}
		h.Set("X-Auth-Token", tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", fmt.Errorf("placement client: %s %s: %w", method, path, err)
	}
	return resp, tok, nil
}

// finish reads the answer into out, or maps an error answer.
func (c *Client) finish(ctx context.Context, method, path string, resp *http.Response, out any, kind op) (*http.Response, error) {
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if buf, ok := out.(*bytes.Buffer); ok {
			if _, err := buf.ReadFrom(resp.Body); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("placement client: %s %s: reading the answer: %w", method, path, err)
			}
			return resp, nil
		}
		if out != nil && resp.StatusCode != http.StatusNoContent {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("placement client: %s %s: decoding the answer: %w", method, path, err)
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body) // let the connection be reused
		return resp, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, mapError(method, path, resp, raw, kind)
}

// mapError turns an error answer into the error the Index would return.
func mapError(method, path string, resp *http.Response, raw []byte, kind op) error {
	he := &HTTPError{Method: method, Path: path, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Openstack-Request-Id")}
	var eb struct {
		Errors []struct {
			Detail    string `json:"detail"`
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &eb) == nil && len(eb.Errors) > 0 {
		he.Detail, he.Code = eb.Errors[0].Detail, eb.Errors[0].Code
		if eb.Errors[0].RequestID != "" {
			he.RequestID = eb.Errors[0].RequestID
		}
	} else {
		he.Detail = strings.TrimSpace(string(raw))
		if len(he.Detail) > 200 {
			he.Detail = he.Detail[:200]
		}
	}
	code := he.Code
	if code == "" {
		code = placement.CodeUndefined
	}
	var k error
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		return fmt.Errorf("placement client: %w: %w", identity.ErrUnauthorized, he)
	case s == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, he)
	case s >= 500:
		return fmt.Errorf("%w: %w", ErrUnavailable, he)
	case s == http.StatusNotFound:
		k = placement.ErrNotFound
	case s == http.StatusConflict:
		k = conflictKind(code, he.Detail, kind)
	case s == http.StatusBadRequest, s == http.StatusRequestEntityTooLarge, s == http.StatusNotAcceptable,
		s == http.StatusUnsupportedMediaType, s == http.StatusMethodNotAllowed:
		k = placement.ErrInvalid
	default:
		return fmt.Errorf("placement client: unexpected answer: %w", he)
	}
	return &placement.Error{Kind: k, Code: code, Detail: he.Detail, Err: he}
}

func conflictKind(code, detail string, kind op) error {
	switch code {
	case placement.CodeConcurrentUpdate:
		if strings.Contains(strings.ToLower(detail), "consumer generation") {
			return placement.ErrConsumerGenerationConflict
		}
		return placement.ErrGenerationConflict
	case placement.CodeInventoryInUse:
		return placement.ErrInventoryInUse
	case placement.CodeDuplicateName:
		return placement.ErrDuplicateName
	case placement.CodeProviderInUse:
		return placement.ErrProviderInUse
	case placement.CodeCannotDeleteParent:
		return placement.ErrCannotDeleteParent
	}
	switch kind {
	case opAllocations:
		return placement.ErrCapacityExceeded
	case opClassOrTrait:
		return placement.ErrInUse
	case opCreateClass:
		return placement.ErrDuplicateName
	}
	return placement.ErrGenerationConflict
}

// at returns the microversion for a call that wants at most want.
func (c *Client) at(ctx context.Context, want placement.Version) (placement.Version, error) {
	v, err := c.Version(ctx)
	if err != nil {
		return v, err
	}
	if want != (placement.Version{}) && want.Compare(v) < 0 {
		return want, nil
	}
	return v, nil
}

func v1(minor int) placement.Version { return placement.Version{Major: 1, Minor: minor} }
