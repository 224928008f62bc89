// Package policy decides whether a caller may perform an action, in the
// manner of oslo.policy: services register rules (a name, a default check
// string, the token scopes it accepts), operators override them with a
// YAML or JSON policy file, and front ends call Enforce with the caller's
// credentials and the target resource's attributes.
//
// Check strings use oslo.policy's syntax: role:NAME, rule:NAME,
// is_admin:True, field:%(target_field)s (a credential field equal to a
// target field), 'literal':%(field)s, "@" (always), "!" (never), and the
// operators and, or, not and parentheses. A rule that references an
// unknown rule denies; a check string that does not parse is rejected
// when it is registered or loaded, never silently turned into a denial.
//
// Credentials are seen as oslo.context presents them: user_id,
// project_id, domain_id, system_scope, user_domain_id,
// project_domain_id, roles (lower case) and is_admin (the admin role).
package policy
