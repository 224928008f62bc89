package keystone

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/novakit/novakit/identity"
)

// ErrUnavailable: Keystone could not be reached or answered with a server
// error; the token's validity is unknown (front ends answer 503).
var ErrUnavailable = errors.New("keystone: identity service unavailable")

// Options configure a Validator: where Keystone is, the service user's
// credentials (password method, project-scoped, as keystonemiddleware's
// [keystone_authtoken] section), and the cache.
type Options struct {
	// AuthURL is Keystone's URL, with or without the /v3 suffix.
	AuthURL string
	// Username and Password of the service user, in the domain named by
	// UserDomainName (default "Default") or UserDomainID.
	Username, Password, UserDomainName, UserDomainID string
	// ProjectName in ProjectDomainName (default "Default") or
	// ProjectDomainID, or ProjectID: the service token's scope.
	ProjectName, ProjectDomainName, ProjectDomainID, ProjectID string
	// HTTPClient (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// CacheSize bounds the number of cached validations (default 10,000;
	// the least recently used are dropped).
	CacheSize int
	// CacheTTL is how long a validation is reused (default 5 min, as
	// keystonemiddleware's token_cache_time), never past the token's
	// expiry. Tokens Keystone refused are remembered as invalid for as
	// long (they never become valid), sparing Keystone repeated bad
	// tokens.
	CacheTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validator is an identity.Authenticator for a real Keystone v3: it
// validates user tokens with GET /v3/auth/tokens (X-Subject-Token) using
// its own service token, and caches results. Safe for concurrent use.
type Validator struct {
	opts Options
	base string // …/v3

	svcMu  sync.Mutex
	svcTok string
	svcExp time.Time

	cacheMu sync.Mutex
	lru     *list.List
	entries map[[32]byte]*list.Element
}

type cacheEntry struct {
	key   [32]byte
	creds identity.Credentials
	until time.Time
	// invalid: Keystone said the token is not valid (a negative entry,
	// as keystonemiddleware caches invalid tokens).
	invalid bool
}

var _ identity.Authenticator = (*Validator)(nil)

// New returns a Validator. It does not contact Keystone until the first
// Authenticate.
func New(opts Options) (*Validator, error) {
	if opts.AuthURL == "" {
		return nil, errors.New("keystone: Options.AuthURL is required")
	}
	if opts.Username == "" || opts.Password == "" {
		return nil, errors.New("keystone: Options.Username and Options.Password are required")
	}
	if opts.ProjectID == "" && opts.ProjectName == "" {
		return nil, errors.New("keystone: Options.ProjectName or Options.ProjectID is required")
	}
	if opts.UserDomainName == "" && opts.UserDomainID == "" {
		opts.UserDomainName = "Default"
	}
	if opts.ProjectDomainName == "" && opts.ProjectDomainID == "" {
		opts.ProjectDomainName = "Default"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	base := strings.TrimRight(opts.AuthURL, "/")
	if !strings.HasSuffix(base, "/v3") {
		base += "/v3"
	}
	return &Validator{opts: opts, base: base, lru: list.New(), entries: map[[32]byte]*list.Element{}}, nil
}

// Authenticate validates token with Keystone (or the cache). An invalid,
// expired or revoked token is an error wrapping identity.ErrUnauthorized;
// Keystone unreachable or failing wraps ErrUnavailable; rejected service
// credentials are another error (a configuration problem). It blocks for
// at most two HTTP round trips (service token, validation).
func (v *Validator) Authenticate(ctx context.Context, token string) (*identity.Credentials, error) {
	if token == "" {
		return nil, fmt.Errorf("keystone: empty token: %w", identity.ErrUnauthorized)
	}
	key := sha256.Sum256([]byte(token))
	if c, invalid, ok := v.cached(key); ok {
		if invalid {
			return nil, fmt.Errorf("keystone: token not valid (cached): %w", identity.ErrUnauthorized)
		}
		c.Token = token
		return &c, nil
	}
	c, err := v.validate(ctx, token, true)
	if errors.Is(err, identity.ErrUnauthorized) {
		v.store(key, identity.Credentials{}, true)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	v.store(key, *c, false)
	c.Token = token
	return c, nil
}

// cached returns a live cache entry: the credentials, or invalid.
func (v *Validator) cached(key [32]byte) (c identity.Credentials, invalid, ok bool) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	el, ok := v.entries[key]
	if !ok {
		return identity.Credentials{}, false, false
	}
	e := el.Value.(*cacheEntry)
	if !v.opts.Now().Before(e.until) {
		v.lru.Remove(el)
		delete(v.entries, key)
		return identity.Credentials{}, false, false
	}
	v.lru.MoveToFront(el)
	c = e.creds
	c.Roles = append([]string(nil), c.Roles...)
	return c, e.invalid, true
}

func (v *Validator) store(key [32]byte, c identity.Credentials, invalid bool) {
	until := v.opts.Now().Add(v.opts.CacheTTL)
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(until) {
		until = c.ExpiresAt
	}
	c.Token = ""
	c.Roles = append([]string(nil), c.Roles...)
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if el, ok := v.entries[key]; ok {
		el.Value = &cacheEntry{key: key, creds: c, until: until, invalid: invalid}
		v.lru.MoveToFront(el)
		return
	}
	v.entries[key] = v.lru.PushFront(&cacheEntry{key: key, creds: c, until: until, invalid: invalid})
	for v.lru.Len() > v.opts.CacheSize {
		old := v.lru.Back()
		v.lru.Remove(old)
		delete(v.entries, old.Value.(*cacheEntry).key)
	}
}

// CacheLen reports how many validations are cached.
func (v *Validator) CacheLen() int {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	return v.lru.Len()
}

func (v *Validator) validate(ctx context.Context, token string, retry bool) (*identity.Credentials, error) {
	svc, err := v.serviceToken(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/auth/tokens", nil)
	if err != nil {
		return nil, fmt.Errorf("keystone: %w", err)
	}
	req.Header.Set("X-Auth-Token", svc)
	req.Header.Set("X-Subject-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the validation: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return parseToken(body)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("keystone: token not found, expired or revoked: %w", identity.ErrUnauthorized)
	case resp.StatusCode == http.StatusUnauthorized && retry:
		// Our service token expired or was revoked: get a new one once.
		v.svcMu.Lock()
		if v.svcTok == svc {
			v.svcTok = ""
		}
		v.svcMu.Unlock()
		return v.validate(ctx, token, false)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: GET /v3/auth/tokens: %s", ErrUnavailable, resp.Status)
	default:
		return nil, fmt.Errorf("keystone: validating a token with the service credentials: %s: %s",
			resp.Status, bytes.TrimSpace(body))
	}
}

// serviceToken returns a service token valid for at least another
// minute, fetching one when needed.
func (v *Validator) serviceToken(ctx context.Context) (string, error) {
	v.svcMu.Lock()
	defer v.svcMu.Unlock()
	if v.svcTok != "" && v.opts.Now().Add(time.Minute).Before(v.svcExp) {
		return v.svcTok, nil
	}
	o := v.opts
	user := map[string]any{"name": o.Username, "password": o.Password, "domain": ref(o.UserDomainID, o.UserDomainName)}
	proj := map[string]any{"id": o.ProjectID}
	if o.ProjectID == "" {
		proj = map[string]any{"name": o.ProjectName, "domain": ref(o.ProjectDomainID, o.ProjectDomainName)}
	}
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": user}},
		"scope":    map[string]any{"project": proj},
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/auth/tokens?nocatalog", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("keystone: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("%w: reading the service token: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusCreated:
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("%w: POST /v3/auth/tokens: %s", ErrUnavailable, resp.Status)
	default:
		return "", fmt.Errorf("keystone: service user %q could not authenticate: %s", o.Username, resp.Status)
	}
	tok := resp.Header.Get("X-Subject-Token")
	c, err := parseToken(rb)
	if err != nil || tok == "" {
		return "", fmt.Errorf("keystone: malformed service token response: %v", err)
	}
	v.svcTok, v.svcExp = tok, c.ExpiresAt
	if v.svcExp.IsZero() {
		v.svcExp = v.opts.Now().Add(time.Hour)
	}
	return tok, nil
}

func ref(id, name string) map[string]string {
	if id != "" {
		return map[string]string{"id": id}
	}
	return map[string]string{"name": name}
}

type named struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"domain"`
}

// parseToken reads Keystone's token body into credentials.
func parseToken(body []byte) (*identity.Credentials, error) {
	var tb struct {
		Token *struct {
			ExpiresAt string          `json:"expires_at"`
			User      named           `json:"user"`
			Project   *named          `json:"project"`
			Domain    *named          `json:"domain"`
			System    map[string]bool `json:"system"`
			Roles     []named         `json:"roles"`
		} `json:"token"`
	}
	if err := json.Unmarshal(body, &tb); err != nil || tb.Token == nil || tb.Token.User.ID == "" {
		return nil, fmt.Errorf("%w: malformed token body", ErrUnavailable)
	}
	t := tb.Token
	c := &identity.Credentials{UserID: t.User.ID, UserName: t.User.Name}
	if t.User.Domain != nil {
		c.UserDomainID, c.UserDomainName = t.User.Domain.ID, t.User.Domain.Name
	}
	if t.Project != nil {
		c.ProjectID, c.ProjectName = t.Project.ID, t.Project.Name
		if t.Project.Domain != nil {
			c.ProjectDomainID, c.ProjectDomainName = t.Project.Domain.ID, t.Project.Domain.Name
		}
	}
	if t.Domain != nil {
		c.DomainID = t.Domain.ID
	}
	if t.System["all"] {
		c.SystemScope = "all"
	}
	for _, r := range t.Roles {
		c.Roles = append(c.Roles, r.Name)
	}
	if t.ExpiresAt != "" {
		for _, layout := range []string{"2006-01-02T15:04:05.999999Z", time.RFC3339Nano} {
			if ts, err := time.Parse(layout, t.ExpiresAt); err == nil {
				c.ExpiresAt = ts
				break
			}
		}
	}
	return c, nil
}
