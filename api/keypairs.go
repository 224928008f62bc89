package api

import (
	"context"
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // Nova's key pair fingerprint is MD5, as OpenSSH's legacy one
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // Nova's x509 fingerprint is SHA-1
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/novakit/novakit/compute"
)

// KeyPairRequest is a key pair create or import.
type KeyPairRequest struct {
	Name string
	// Type is ssh (default) or x509.
	Type compute.KeyPairType
	// PublicKey is imported when set; otherwise a key is generated (only
	// before 2.92: the caller says so with AllowGenerate).
	PublicKey     string
	AllowGenerate bool
	// UserID creates the key pair for another user (2.10, admin).
	UserID string
	// ExtendedNames allows "@" and "." in names (2.92).
	ExtendedNames bool
}

var (
	keyNameChars    = regexp.MustCompile(`^[a-zA-Z0-9 _-]+$`)
	keyNameCharsExt = regexp.MustCompile(`^[a-zA-Z0-9 _@.-]+$`)
)

// SSHFingerprint returns the MD5 fingerprint Nova records for an OpenSSH
// public key ("aa:bb:…"), or an error naming public_key.
func SSHFingerprint(publicKey string) (string, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(publicKey))
	if err != nil {
		return "", badRequest("Keypair data is invalid: failed to generate fingerprint")
	}
	sum := md5.Sum(pk.Marshal()) //nolint:gosec
	return colonHex(sum[:]), nil
}

// X509Fingerprint returns the SHA-1 fingerprint of a PEM certificate.
func X509Fingerprint(certPEM string) (string, error) {
	blk, _ := pem.Decode([]byte(certPEM))
	if blk == nil {
		return "", badRequest("Keypair data is invalid: failed to generate fingerprint")
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return "", badRequest("Keypair data is invalid: failed to generate fingerprint")
	}
	sum := sha1.Sum(blk.Bytes) //nolint:gosec
	return colonHex(sum[:]), nil
}

func colonHex(b []byte) string {
	var sb strings.Builder
	for i, x := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02x", x)
	}
	return sb.String()
}

// GenerateSSHKey returns a new RSA 2048 key pair as Nova generates one:
// the private key PEM and the OpenSSH public key line.
func GenerateSSHKey(comment string) (private, public string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return string(priv), line, nil
}

// GenerateEd25519Key returns a new ed25519 key pair (private key in
// OpenSSH PEM form).
func GenerateEd25519Key(comment string) (private, public string, err error) {
	pubk, privk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	blk, err := ssh.MarshalPrivateKey(privk, comment)
	if err != nil {
		return "", "", err
	}
	pub, err := ssh.NewPublicKey(pubk)
	if err != nil {
		return "", "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return string(pem.EncodeToMemory(blk)), line, nil
}

// CreateKeyPair imports or generates a key pair for the caller (or, for
// an admin, req.UserID). It returns the stored key pair and the private
// key when one was generated. The key_pairs quota applies per user.
func (a *API) CreateKeyPair(ctx context.Context, req KeyPairRequest) (*compute.KeyPair, string, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, "", err
	}
	user := c.UserID
	if req.UserID != "" {
		user = req.UserID
	}
	if err := a.policy.Authorize(ctx, c, RuleKeypairsCreate, Target{UserID: user, ProjectID: c.ProjectID}); err != nil {
		return nil, "", err
	}
	re := keyNameChars
	if req.ExtendedNames {
		re = keyNameCharsExt
	}
	if req.Name == "" || len(req.Name) > 255 || !re.MatchString(req.Name) {
		return nil, "", badRequest("Keypair data is invalid: Keypair name contains unsafe characters")
	}
	if req.Type == "" {
		req.Type = compute.KeyPairSSH
	}
	limits, err := a.st.Quotas().Limits(ctx, c.ProjectID, "")
	if err != nil {
		return nil, "", err
	}
	n, err := a.st.KeyPairs().Count(ctx, user)
	if err != nil {
		return nil, "", err
	}
	if lim := limits[compute.QuotaKeyPairs]; lim >= 0 && n+1 > lim {
		return nil, "", &QuotaError{Message: "Quota exceeded, too many key pairs."}
	}
	var private string
	kp := &compute.KeyPair{Name: req.Name, UserID: user, Type: req.Type, PublicKey: strings.TrimSpace(req.PublicKey)}
	switch {
	case kp.PublicKey == "" && !req.AllowGenerate:
		return nil, "", compute.InvalidInput("public_key", "is required")
	case kp.PublicKey == "" && req.Type == compute.KeyPairX509:
		return nil, "", badRequest("Keypair data is invalid: generating x509 key pairs is not supported")
	case kp.PublicKey == "":
		private, kp.PublicKey, err = GenerateSSHKey("Generated-by-Nova")
		if err != nil {
			return nil, "", err
		}
	}
	if req.Type == compute.KeyPairX509 {
		kp.Fingerprint, err = X509Fingerprint(kp.PublicKey)
	} else {
		kp.Fingerprint, err = SSHFingerprint(kp.PublicKey)
	}
	if err != nil {
		return nil, "", err
	}
	out, err := a.st.KeyPairs().Create(ctx, kp)
	if errors.Is(err, compute.ErrConflict) {
		return nil, "", conflict("Key pair '%s' already exists.", req.Name)
	}
	if err != nil {
		return nil, "", err
	}
	return out, private, nil
}

// keyPairUser resolves whose key pairs a request is about.
func (a *API) keyPairUser(ctx context.Context, rule, userID string) (string, error) {
	c, err := caller(ctx)
	if err != nil {
		return "", err
	}
	user := c.UserID
	if userID != "" {
		user = userID
	}
	if err := a.policy.Authorize(ctx, c, rule, Target{UserID: user, ProjectID: c.ProjectID}); err != nil {
		return "", err
	}
	return user, nil
}

// ListKeyPairs lists the key pairs of the caller (or userID, admin).
func (a *API) ListKeyPairs(ctx context.Context, userID string, opts compute.ListOptions) ([]*compute.KeyPair, error) {
	user, err := a.keyPairUser(ctx, RuleKeypairsIndex, userID)
	if err != nil {
		return nil, err
	}
	if opts.Limit <= 0 || opts.Limit > a.maxLimit {
		opts.Limit = a.maxLimit
	}
	return a.st.KeyPairs().List(ctx, user, opts)
}

// GetKeyPair returns one key pair.
func (a *API) GetKeyPair(ctx context.Context, name, userID string) (*compute.KeyPair, error) {
	user, err := a.keyPairUser(ctx, RuleKeypairsShow, userID)
	if err != nil {
		return nil, err
	}
	kp, err := a.st.KeyPairs().Get(ctx, user, name)
	if errors.Is(err, compute.ErrNotFound) {
		return nil, compute.NotFound("Keypair", name+" for user "+user)
	}
	return kp, err
}

// DeleteKeyPair deletes one key pair.
func (a *API) DeleteKeyPair(ctx context.Context, name, userID string) error {
	user, err := a.keyPairUser(ctx, RuleKeypairsDelete, userID)
	if err != nil {
		return err
	}
	err = a.st.KeyPairs().Delete(ctx, user, name)
	if errors.Is(err, compute.ErrNotFound) {
		return compute.NotFound("Keypair", name+" for user "+user)
	}
	return err
}
