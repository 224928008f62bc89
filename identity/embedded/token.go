package embedded

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/novakit/novakit/identity"
)

const (
	keySize      = 32
	tokenVersion = 0x4e // 'N'
)

// payload is what a token carries, encrypted and authenticated with
// AES-256-GCM: enough to rebuild the caller's credentials without any
// shared state. Short JSON names keep tokens small.
type payload struct {
	UserID         string    `json:"u"`
	UserName       string    `json:"un"`
	UserDomainID   string    `json:"ud"`
	UserDomainName string    `json:"udn"`
	Methods        []string  `json:"m"`
	ProjectID      string    `json:"p,omitempty"`
	ProjectName    string    `json:"pn,omitempty"`
	ProjDomainID   string    `json:"pd,omitempty"`
	ProjDomainName string    `json:"pdn,omitempty"`
	DomainID       string    `json:"d,omitempty"`
	DomainName     string    `json:"dn,omitempty"`
	System         string    `json:"s,omitempty"`
	Roles          []roleRef `json:"r,omitempty"`
	IssuedAt       int64     `json:"i"`
	ExpiresAt      int64     `json:"e"`
	AuditIDs       []string  `json:"a"`
}

type roleRef struct {
	ID   string `json:"i"`
	Name string `json:"n"`
}

func (p *payload) expires() time.Time { return time.UnixMicro(p.ExpiresAt).UTC() }
func (p *payload) issued() time.Time  { return time.UnixMicro(p.IssuedAt).UTC() }

func (p *payload) credentials(token string) *identity.Credentials {
	c := &identity.Credentials{
		UserID: p.UserID, UserName: p.UserName, UserDomainID: p.UserDomainID, UserDomainName: p.UserDomainName,
		ProjectID: p.ProjectID, ProjectName: p.ProjectName, ProjectDomainID: p.ProjDomainID,
		ProjectDomainName: p.ProjDomainName, DomainID: p.DomainID, SystemScope: p.System,
		ExpiresAt: p.expires(), Token: token,
	}
	for _, r := range p.Roles {
		c.Roles = append(c.Roles, r.Name)
	}
	return c
}

// sealer encrypts with the first key and opens with any. It remembers
// the payloads of the tokens it opened (see openCache).
type sealer struct {
	aeads  []cipher.AEAD
	opened openCache
}

// openCache maps tokens to the payloads open decrypted and decoded from
// them, which is most of the cost of a validation: a client sends the
// same token with every request until it expires (keystonemiddleware
// caches validated tokens likewise). A token's expiry is still checked
// on every use, and whatever else the caller checks (revocation, the
// user) too. Payloads in it are shared: read-only. At most
// openCacheMax entries; past that, an arbitrary one makes room.
type openCache struct {
	mu sync.Mutex
	m  map[string]*payload
}

const openCacheMax = 4096

func (c *openCache) get(tok string) *payload {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[tok]
}

func (c *openCache) put(tok string, p *payload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*payload{}
	}
	if len(c.m) >= openCacheMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[tok] = p
}

func (c *openCache) drop(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, tok)
}

func newSealer(keys []string) (*sealer, error) {
	s := &sealer{}
	for i, k := range keys {
		raw, err := decodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("embedded: keys[%d]: %w", i, err)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("embedded: keys[%d]: %w", i, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("embedded: keys[%d]: %w", i, err)
		}
		s.aeads = append(s.aeads, gcm)
	}
	if len(s.aeads) == 0 {
		return nil, errors.New("embedded: no token key")
	}
	return s, nil
}

func decodeKey(k string) ([]byte, error) {
	k = strings.TrimSpace(k)
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		if raw, err := enc.DecodeString(k); err == nil {
			if len(raw) != keySize {
				return nil, fmt.Errorf("a key must be %d bytes, this one is %d", keySize, len(raw))
			}
			return raw, nil
		}
	}
	return nil, errors.New("a key must be base64")
}

func mustRand(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("embedded: crypto/rand: %v", err))
	}
}

func (s *sealer) seal(p *payload) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("embedded: token payload: %w", err)
	}
	a := s.aeads[0]
	buf := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plain)+a.Overhead())
	buf[0] = tokenVersion
	mustRand(buf[1:])
	buf = a.Seal(buf, buf[1:], plain, buf[:1])
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// open decrypts and checks a token (or finds it in s.opened and checks
// its expiry); errors wrap identity.ErrUnauthorized. The payload is
// shared: read-only.
func (s *sealer) open(tok string, now time.Time) (*payload, error) {
	if p := s.opened.get(tok); p != nil {
		if !now.Before(p.expires()) {
			s.opened.drop(tok)
			return nil, fmt.Errorf("token expired at %s: %w", p.expires().Format(time.RFC3339), identity.ErrUnauthorized)
		}
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 1 || raw[0] != tokenVersion {
		return nil, fmt.Errorf("malformed token: %w", identity.ErrUnauthorized)
	}
	for _, a := range s.aeads {
		if len(raw) < 1+a.NonceSize() {
			break
		}
		plain, err := a.Open(nil, raw[1:1+a.NonceSize()], raw[1+a.NonceSize():], raw[:1])
		if err != nil {
			continue
		}
		var p payload
		if err := json.Unmarshal(plain, &p); err != nil {
			return nil, fmt.Errorf("token payload: %w", identity.ErrUnauthorized)
		}
		if !now.Before(p.expires()) {
			return nil, fmt.Errorf("token expired at %s: %w", p.expires().Format(time.RFC3339), identity.ErrUnauthorized)
		}
		s.opened.put(tok, &p)
		return &p, nil
	}
	return nil, fmt.Errorf("token not issued with a known key: %w", identity.ErrUnauthorized)
}

// Validator validates the issuer's tokens in any process that holds the
// keys, with no other state: it does not see revocations made by an
// Issuer (they live in that Issuer's memory). It is safe for concurrent
// use.
type Validator struct {
	s   *sealer
	now func() time.Time
}

// NewValidator returns a Validator for tokens issued with any of keys
// (encoded as in Config.Keys).
func NewValidator(keys ...string) (*Validator, error) {
	s, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	return &Validator{s: s, now: time.Now}, nil
}

var _ identity.Authenticator = (*Validator)(nil)

// Authenticate decrypts token and returns the credentials it carries.
// Malformed, forged and expired tokens are errors wrapping
// identity.ErrUnauthorized. It does not block.
func (v *Validator) Authenticate(_ context.Context, token string) (*identity.Credentials, error) {
	p, err := v.s.open(token, v.now())
	if err != nil {
		return nil, err
	}
	return p.credentials(token), nil
}
