package store

import (
	"context"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/keypair"
)

// KeyPairs is the store's view of users' key pairs. Get one with
// [Store.KeyPairs]; it is a small value, safe for concurrent use.
type KeyPairs struct{ s *Store }

// KeyPairs returns the key pair repository.
func (s *Store) KeyPairs() KeyPairs { return KeyPairs{s} }

// Create stores a key pair and returns it as stored (ID, CreatedAt,
// UpdatedAt set; an empty Type becomes ssh). Name, UserID and PublicKey
// are required and Type must be ssh or x509, else a
// *compute.InvalidInputError names the field ("name", "user_id",
// "public_key", "type"); the name's characters are the API's to check
// (they depend on the microversion). A key pair of the same name for the
// same user gives a *compute.DuplicateError. The fingerprint is stored
// as given: computing it is the caller's.
func (r KeyPairs) Create(ctx context.Context, kp *compute.KeyPair) (*compute.KeyPair, error) {
	if kp == nil {
		return nil, compute.InvalidInput("keypair", "is required")
	}
	k := *kp
	if k.Type == "" {
		k.Type = compute.KeyPairSSH
	}
	switch {
	case k.Type != compute.KeyPairSSH && k.Type != compute.KeyPairX509:
		return nil, compute.InvalidInput("type", "%q is not one of ssh, x509", k.Type)
	case k.PublicKey == "":
		return nil, compute.InvalidInput("public_key", "is required")
	}
	if err := required("name", k.Name); err != nil {
		return nil, err
	}
	if err := required("user_id", k.UserID); err != nil {
		return nil, err
	}
	now := r.s.ts()
	row, err := r.s.w.KeyPair.Create().
		SetName(k.Name).SetUserID(k.UserID).SetType(string(k.Type)).SetPublicKey(k.PublicKey).
		SetFingerprint(k.Fingerprint).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, r.s.classify(err, "key pair", k.Name)
	}
	return toKeyPair(row), nil
}

// Get returns the user's key pair with the name, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r KeyPairs) Get(ctx context.Context, userID, name string) (*compute.KeyPair, error) {
	row, err := r.s.r.KeyPair.Query().Where(keypair.UserID(userID), keypair.Name(name)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "key pair", name)
	}
	return toKeyPair(row), nil
}

// List returns the user's key pairs in the order they were created, as
// Nova lists them, paged by opts.Limit and opts.Marker (a key pair name;
// one the user does not have gives a *compute.MarkerNotFoundError).
// Key pairs cannot be sorted otherwise: opts.Sort gives a
// *compute.InvalidInputError. An empty userID gives one naming
// "user_id".
func (r KeyPairs) List(ctx context.Context, userID string, opts compute.ListOptions) ([]*compute.KeyPair, error) {
	if err := required("user_id", userID); err != nil {
		return nil, err
	}
	if err := checkPage(opts, "key pairs"); err != nil {
		return nil, err
	}
	q := r.s.r.KeyPair.Query().Where(keypair.UserID(userID))
	if opts.Marker != "" {
		m, err := r.s.r.KeyPair.Query().Where(keypair.UserID(userID), keypair.Name(opts.Marker)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
		}
		if err != nil {
			return nil, r.s.classify(err, "key pair", opts.Marker)
		}
		q = q.Where(keypair.IDGT(m.ID))
	}
	q = q.Order(ent.Asc(keypair.FieldID))
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "key pairs", userID)
	}
	out := make([]*compute.KeyPair, len(rows))
	for i, row := range rows {
		out[i] = toKeyPair(row)
	}
	return out, nil
}

// Delete removes the user's key pair. A missing one gives ErrNotFound,
// so a repeated Delete reports it gone.
func (r KeyPairs) Delete(ctx context.Context, userID, name string) error {
	n, err := r.s.w.KeyPair.Delete().Where(keypair.UserID(userID), keypair.Name(name)).Exec(ctx)
	if err != nil {
		return r.s.classify(err, "key pair", name)
	}
	if n == 0 {
		return compute.NotFound("key pair", name)
	}
	return nil
}

// Count returns how many key pairs the user has (for the key_pairs
// quota).
func (r KeyPairs) Count(ctx context.Context, userID string) (int, error) {
	n, err := r.s.r.KeyPair.Query().Where(keypair.UserID(userID)).Count(ctx)
	if err != nil {
		return 0, r.s.classify(err, "key pairs", userID)
	}
	return n, nil
}

func toKeyPair(e *ent.KeyPair) *compute.KeyPair {
	return &compute.KeyPair{
		ID: int64(e.ID), Name: e.Name, UserID: e.UserID, Type: compute.KeyPairType(e.Type),
		PublicKey: e.PublicKey, Fingerprint: e.Fingerprint,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}
