package policy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/policy"
)

// novaBase are Nova's base rules (nova/policies/base.py).
var novaBase = []policy.Rule{
	{Name: "context_is_admin", Check: "role:admin"},
	{Name: "admin_or_owner", Check: "is_admin:True or project_id:%(project_id)s"},
	{Name: "admin_api", Check: "is_admin:True"},
	{Name: "project_member_api", Check: "role:member and project_id:%(project_id)s"},
	{Name: "project_reader_api", Check: "role:reader and project_id:%(project_id)s"},
	{Name: "project_member_or_admin", Check: "rule:project_member_api or rule:context_is_admin"},
	{Name: "project_reader_or_admin", Check: "rule:project_reader_api or rule:context_is_admin"},
	{Name: "os_compute_api:servers:create", Check: "rule:project_member_or_admin", ScopeTypes: []string{"project"}},
	{Name: "os_compute_api:servers:show", Check: "rule:project_reader_or_admin", ScopeTypes: []string{"project"}},
	{Name: "os_compute_api:os-hypervisors:list", Check: "rule:context_is_admin", ScopeTypes: []string{"project"}},
}

var (
	admin  = &identity.Credentials{UserID: "a", ProjectID: "admin", Roles: []string{"admin", "member", "reader"}}
	member = &identity.Credentials{UserID: "m", ProjectID: "demo", Roles: []string{"Member", "reader"}}
	reader = &identity.Credentials{UserID: "r", ProjectID: "demo", Roles: []string{"reader"}}
	other  = &identity.Credentials{UserID: "o", ProjectID: "other", Roles: []string{"member", "reader"}}
	system = &identity.Credentials{UserID: "s", SystemScope: "all", Roles: []string{"admin"}}
)

func TestNovaDefaults(t *testing.T) {
	t.Parallel()
	e, err := policy.New(policy.Options{EnforceScope: true}, novaBase...)
	require.NoError(t, err)
	demo := policy.Target{"project_id": "demo", "user_id": "m"}
	for _, tc := range []struct {
		creds *identity.Credentials
		rule  string
		allow bool
	}{
		{admin, "os_compute_api:servers:create", true},
		{member, "os_compute_api:servers:create", true},
		{reader, "os_compute_api:servers:create", false},
		{other, "os_compute_api:servers:create", false},
		{reader, "os_compute_api:servers:show", true},
		{other, "os_compute_api:servers:show", false},
		{admin, "os_compute_api:servers:show", true},
		{member, "os_compute_api:os-hypervisors:list", false},
		{admin, "os_compute_api:os-hypervisors:list", true},
		{system, "os_compute_api:os-hypervisors:list", false}, // scope: project only
		{nil, "os_compute_api:servers:show", false},
	} {
		name := "anonymous"
		if tc.creds != nil {
			name = tc.creds.UserID
		}
		t.Run(name+" "+tc.rule, func(t *testing.T) {
			err := e.Authorize(tc.creds, tc.rule, demo)
			if tc.allow {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, policy.ErrForbidden)
			var pe *policy.Error
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, tc.rule, pe.Rule)
			assert.Contains(t, err.Error(), tc.rule)
		})
	}
	ctx := identity.NewContext(t.Context(), member)
	assert.NoError(t, e.Enforce(ctx, "os_compute_api:servers:create", demo))
	assert.ErrorIs(t, e.Enforce(t.Context(), "os_compute_api:servers:create", demo), policy.ErrForbidden)
	assert.ErrorIs(t, e.Enforce(ctx, "nope", demo), policy.ErrUnregistered)

	var pe *policy.Error
	require.ErrorAs(t, e.Authorize(system, "os_compute_api:servers:show", demo), &pe)
	assert.Equal(t, "system", pe.Scope)
}

func TestCheckStrings(t *testing.T) {
	t.Parallel()
	creds := &identity.Credentials{UserID: "u1", ProjectID: "p1", DomainID: "", UserDomainID: "default",
		Roles: []string{"Member", "reader"}}
	for _, tc := range []struct {
		check  string
		target policy.Target
		want   bool
	}{
		{"", nil, true},
		{"@", nil, true},
		{"!", nil, false},
		{"role:member", nil, true},
		{"role:MEMBER", nil, true},
		{"role:admin", nil, false},
		{"not role:admin", nil, true},
		{"NOT role:member", nil, false},
		{"role:admin or role:reader", nil, true},
		{"role:admin and role:reader", nil, false},
		{"role:admin or role:reader and not role:member", nil, false},
		{"(role:admin or role:reader) and role:member", nil, true},
		{"((role:admin) or (role:reader))", nil, true},
		{"is_admin:True", nil, false},
		{"is_admin:False", nil, true},
		{"project_id:%(project_id)s", policy.Target{"project_id": "p1"}, true},
		{"project_id:%(project_id)s", policy.Target{"project_id": "p2"}, false},
		{"project_id:%(project_id)s", policy.Target{}, false},
		{"user_id:%(user_id)s or role:admin", policy.Target{"user_id": "u1"}, true},
		{"user_domain_id:default", nil, true},
		{"'member':%(role.name)s", policy.Target{"role.name": "member"}, true},
		{"'member':%(role.name)s", policy.Target{"role.name": "admin"}, false},
		{"True:%(enabled)s", policy.Target{"enabled": true}, true},
		{"role:%(role)s", policy.Target{"role": "READER"}, true},
		{"project_id:p1", nil, true},
		{"system_scope:all", nil, false},
		{"roles:reader", nil, true},
		{"nosuchfield:x", nil, false},
		{"rule:missing", nil, false},
		{"not rule:missing", nil, true},
		{"project_id:%%(project_id)s", nil, false},
	} {
		t.Run(tc.check, func(t *testing.T) {
			e, err := policy.New(policy.Options{}, policy.Rule{Name: "r", Check: tc.check})
			require.NoError(t, err)
			assert.Equal(t, tc.want, e.Allowed(creds, "r", tc.target))
			// The canonical form evaluates the same.
			c, err := policy.Parse(tc.check)
			require.NoError(t, err)
			e2, err := policy.New(policy.Options{}, policy.Rule{Name: "r", Check: c.String()})
			require.NoError(t, err)
			assert.Equal(t, tc.want, e2.Allowed(creds, "r", tc.target), "canonical %q", c.String())
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"role", "role:", "rule:", "(role:a", "role:a)", "role:a and", "or role:a", "not",
		"role:a role:b", "http://example.com", "http:x", "project_id:%(x", "project_id:%d", ":x", "()",
		"%(x)s:y",
	} {
		_, err := policy.Parse(bad)
		assert.ErrorIs(t, err, policy.ErrSyntax, "%q", bad)
	}
	_, err := policy.New(policy.Options{}, policy.Rule{Name: "broken", Check: "role:a and"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"broken"`)
	_, err = policy.New(policy.Options{}, policy.Rule{Name: "x", Check: "@"}, policy.Rule{Name: "x", Check: "@"})
	assert.ErrorContains(t, err, "twice")
	_, err = policy.New(policy.Options{}, policy.Rule{Name: "x", Check: "@", ScopeTypes: []string{"galaxy"}})
	assert.ErrorContains(t, err, "galaxy")
}

func TestRecursiveRulesDeny(t *testing.T) {
	t.Parallel()
	e, err := policy.New(policy.Options{},
		policy.Rule{Name: "a", Check: "rule:b"}, policy.Rule{Name: "b", Check: "rule:a or role:x"})
	require.NoError(t, err)
	assert.False(t, e.Allowed(member, "a", nil))
	assert.True(t, e.Allowed(&identity.Credentials{UserID: "x", Roles: []string{"x"}}, "a", nil))
}

func TestOverridesFromFile(t *testing.T) {
	t.Parallel()
	e, err := policy.New(policy.Options{}, novaBase...)
	require.NoError(t, err)
	dir := t.TempDir()
	yml := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(yml, []byte(`# operator overrides
"os_compute_api:os-hypervisors:list": "rule:project_reader_api"
"project_reader_api": "role:reader"
`), 0o600))
	demo := policy.Target{"project_id": "demo"}
	assert.False(t, e.Allowed(reader, "os_compute_api:os-hypervisors:list", demo))
	require.NoError(t, e.LoadFile(yml))
	assert.True(t, e.Allowed(reader, "os_compute_api:os-hypervisors:list", demo))
	assert.True(t, e.Allowed(other, "os_compute_api:servers:show", demo), "project_reader_api was relaxed")

	js := filepath.Join(dir, "policy.json")
	require.NoError(t, os.WriteFile(js, []byte(`{"os_compute_api:servers:create": "!"}`), 0o600))
	require.NoError(t, e.LoadFile(js))
	assert.False(t, e.Allowed(admin, "os_compute_api:servers:create", demo))
	assert.False(t, e.Allowed(other, "os_compute_api:servers:show", demo), "the YAML overrides were replaced")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`"os_compute_api:servers:create": "role:a and"`), 0o600))
	err = e.LoadFile(bad)
	require.ErrorContains(t, err, "os_compute_api:servers:create")
	assert.False(t, e.Allowed(admin, "os_compute_api:servers:create", demo), "a bad file leaves the old overrides")

	require.NoError(t, os.WriteFile(bad, []byte(`"x": ["role:a"]`), 0o600))
	assert.ErrorContains(t, e.LoadFile(bad), `"x"`)
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	require.NoError(t, e.LoadFile(empty))
	assert.True(t, e.Allowed(admin, "os_compute_api:servers:create", demo))

	var found bool
	for _, r := range e.Rules() {
		if r.Name == "os_compute_api:servers:create" {
			found = true
			assert.Equal(t, "rule:project_member_or_admin", r.Check)
		}
	}
	assert.True(t, found)
}

func TestConcurrentReload(t *testing.T) {
	t.Parallel()
	e, err := policy.New(policy.Options{}, novaBase...)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			check := "role:member"
			if i%2 == 0 {
				check = "role:reader"
			}
			_ = e.SetOverrides(map[string]string{"project_member_api": check})
		}
	}()
	for range 200 {
		_ = e.Allowed(member, "os_compute_api:servers:create", policy.Target{"project_id": "demo"})
	}
	<-done
}

func ExampleEnforcer() {
	e, err := policy.New(policy.Options{EnforceScope: true},
		policy.Rule{Name: "context_is_admin", Check: "role:admin"},
		policy.Rule{Name: "project_member_api", Check: "role:member and project_id:%(project_id)s"},
		policy.Rule{Name: "os_compute_api:servers:delete", Check: "rule:project_member_api or rule:context_is_admin",
			ScopeTypes: []string{policy.ScopeProject}},
	)
	if err != nil {
		panic(err)
	}
	alice := &identity.Credentials{UserID: "alice", ProjectID: "demo", Roles: []string{"member", "reader"}}
	ctx := identity.NewContext(context.Background(), alice)
	fmt.Println(e.Enforce(ctx, "os_compute_api:servers:delete", policy.Target{"project_id": "demo"}))
	fmt.Println(e.Enforce(ctx, "os_compute_api:servers:delete", policy.Target{"project_id": "other"}))
	// Output:
	// <nil>
	// Policy doesn't allow os_compute_api:servers:delete to be performed.
}

func TestSampleYAML(t *testing.T) {
	t.Parallel()
	e, err := policy.New(policy.Options{}, append(novaBase, policy.Rule{Name: "x:y", Check: "role:a or role:b",
		Description: "Two\nlines", ScopeTypes: []string{"project", "system"}})...)
	require.NoError(t, err)
	sample := string(e.SampleYAML())
	assert.Contains(t, sample, "# Two\n# lines\n# Scope types: project, system\n#x:y: role:a or role:b\n")
	// Uncommented, the sample is a valid policy file equal to the defaults.
	var un strings.Builder
	for line := range strings.SplitSeq(sample, "\n") {
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# ") {
			un.WriteString(line[1:] + "\n")
		}
	}
	rules, err := policy.ParseFile([]byte(un.String()))
	require.NoError(t, err)
	assert.Len(t, rules, len(novaBase)+1)
	assert.Equal(t, "role:a or role:b", rules["x:y"])
	assert.Equal(t, "is_admin:True or project_id:%(project_id)s", rules["admin_or_owner"])
}
