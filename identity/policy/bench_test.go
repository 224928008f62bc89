package policy_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity/policy"
)

// BenchmarkAuthorize: one Nova-style check through two rule: levels.
func BenchmarkAuthorize(b *testing.B) {
	e, err := policy.New(policy.Options{EnforceScope: true}, novaBase...)
	require.NoError(b, err)
	target := policy.Target{"project_id": "demo"}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Authorize(member, "os_compute_api:servers:create", target); err != nil {
			b.Fatal(err)
		}
	}
}
