package policy_test

import (
	"testing"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/policy"
)

// FuzzParse: any input either fails with ErrSyntax or parses into a check
// whose canonical form parses again to the same canonical form and
// evaluates the same; evaluation never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "@", "!", "role:admin", "rule:a or (role:b and not c:%(d)s)",
		"is_admin:True", "'x':%(y)s", "project_id:%(project_id)s and user_id:%%x", "((a:b))", "not not a:b",
		"role:admin or role:reader and not role:member", "1.5:%(n)s"} {
		f.Add(s)
	}
	creds := &identity.Credentials{UserID: "u", ProjectID: "p", Roles: []string{"member"}}
	target := policy.Target{"project_id": "p", "user_id": "u", "d": "x", "y": "x", "n": 1.5}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := policy.Parse(s)
		if err != nil {
			return
		}
		canon := c.String()
		c2, err := policy.Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if c2.String() != canon {
			t.Fatalf("canonical form unstable: %q -> %q", canon, c2.String())
		}
		e1, err := policy.New(policy.Options{}, policy.Rule{Name: "r", Check: s}, policy.Rule{Name: "a", Check: "rule:r"})
		if err != nil {
			t.Fatal(err)
		}
		e2, err := policy.New(policy.Options{}, policy.Rule{Name: "r", Check: canon}, policy.Rule{Name: "a", Check: "rule:r"})
		if err != nil {
			t.Fatal(err)
		}
		if e1.Allowed(creds, "r", target) != e2.Allowed(creds, "r", target) {
			t.Fatalf("%q and its canonical form %q disagree", s, canon)
		}
	})
}
