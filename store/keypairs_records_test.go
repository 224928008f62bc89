package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func recKeyPair(user, name string) *compute.KeyPair {
	return &compute.KeyPair{Name: name, UserID: user, PublicKey: "ssh-ed25519 AAAA " + name, Fingerprint: "aa:bb"}
}

func testKeyPairs(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateGetDelete", func(t *testing.T) {
		kp := newStore(t).KeyPairs()
		user := uuid.NewString()
		created, err := kp.Create(ctx, recKeyPair(user, "k1"))
		require.NoError(t, err)
		assert.NotZero(t, created.ID)
		assert.Equal(t, compute.KeyPairSSH, created.Type, "ssh by default")
		got, err := kp.Get(ctx, user, "k1")
		require.NoError(t, err)
		assert.Equal(t, created, got)

		_, err = kp.Get(ctx, uuid.NewString(), "k1")
		requireNotFound(t, err)
		require.NoError(t, kp.Delete(ctx, user, "k1"))
		requireNotFound(t, kp.Delete(ctx, user, "k1"))
		_, err = kp.Get(ctx, user, "k1")
		requireNotFound(t, err)
	})

	t.Run("NamesAreUniquePerUser", func(t *testing.T) {
		kp := newStore(t).KeyPairs()
		u1, u2 := uuid.NewString(), uuid.NewString()
		_, err := kp.Create(ctx, recKeyPair(u1, "same"))
		require.NoError(t, err)
		_, err = kp.Create(ctx, recKeyPair(u1, "same"))
		requireDuplicate(t, err)
		_, err = kp.Create(ctx, recKeyPair(u2, "same"))
		require.NoError(t, err, "another user may use the name")
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		kp := newStore(t).KeyPairs()
		user := uuid.NewString()
		for _, c := range []struct {
			field string
			mod   func(*compute.KeyPair)
		}{
			{"name", func(k *compute.KeyPair) { k.Name = "" }},
			{"name", func(k *compute.KeyPair) { k.Name = strings.Repeat("n", 256) }},
			{"user_id", func(k *compute.KeyPair) { k.UserID = "" }},
			{"public_key", func(k *compute.KeyPair) { k.PublicKey = "" }},
			{"type", func(k *compute.KeyPair) { k.Type = "pgp" }},
		} {
			k := recKeyPair(user, "k")
			c.mod(k)
			_, err := kp.Create(ctx, k)
			requireInvalid(t, err, c.field)
		}
		_, err := kp.List(ctx, "", compute.ListOptions{})
		requireInvalid(t, err, "user_id")
		_, err = kp.List(ctx, user, compute.ListOptions{Sort: []compute.SortKey{{Key: "name"}}})
		requireInvalid(t, err, "sort_key")
	})

	t.Run("ListPagesInCreationOrderAndCounts", func(t *testing.T) {
		kp := newStore(t).KeyPairs()
		user := uuid.NewString()
		var want []string
		for i := range 5 {
			name := fmt.Sprintf("key-%d", 4-i) // creation order differs from name order
			_, err := kp.Create(ctx, recKeyPair(user, name))
			require.NoError(t, err)
			want = append(want, name)
		}
		_, err := kp.Create(ctx, recKeyPair(uuid.NewString(), "other-user"))
		require.NoError(t, err)

		n, err := kp.Count(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, 5, n)

		var got []string
		marker := ""
		for {
			page, err := kp.List(ctx, user, compute.ListOptions{Limit: 2, Marker: marker})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			for _, k := range page {
				got = append(got, k.Name)
			}
			marker = page[len(page)-1].Name
		}
		assert.Equal(t, want, got)

		_, err = kp.List(ctx, user, compute.ListOptions{Marker: "nope"})
		requireMarkerNotFound(t, err, "nope")
	})
}
