package api

import (
	"errors"
	"net/http"

	"github.com/novakit/novakit/identity/policy"
	"github.com/novakit/novakit/image"
)

// Glance's policy rule names used by the handler.
const (
	RuleAddImage          = "add_image"
	RuleGetImage          = "get_image"
	RuleGetImages         = "get_images"
	RuleModifyImage       = "modify_image"
	RulePublicizeImage    = "publicize_image"
	RuleCommunitizeImage  = "communitize_image"
	RuleDeleteImage       = "delete_image"
	RuleUploadImage       = "upload_image"
	RuleDownloadImage     = "download_image"
	RuleDeactivate        = "deactivate"
	RuleReactivate        = "reactivate"
	RuleAddMember         = "add_member"
	RuleDeleteMember      = "delete_member"
	RuleGetMember         = "get_member"
	RuleGetMembers        = "get_members"
	RuleModifyMember      = "modify_member"
	RuleContextIsAdmin    = "context_is_admin"
	ruleAdminOrMember     = "role:admin or (role:member and project_id:%(project_id)s)"
	ruleAdminOrReaderSees = "role:admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or " +
		"'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
)

// DefaultRules are Glance's secure-RBAC defaults (admin, member, reader)
// for the routes this handler serves. The target's project_id is the
// image's owner; member_id is the caller's project when it is a member.
func DefaultRules() []policy.Rule {
	project := []string{policy.ScopeProject}
	r := func(name, check string) policy.Rule {
		return policy.Rule{Name: name, Check: check, ScopeTypes: project}
	}
	return []policy.Rule{
		{Name: RuleContextIsAdmin, Check: "role:admin"},
		r(RuleAddImage, "role:admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)"),
		r(RuleGetImage, ruleAdminOrReaderSees),
		r(RuleGetImages, "role:admin or (role:reader and project_id:%(project_id)s)"),
		r(RuleModifyImage, ruleAdminOrMember),
		r(RulePublicizeImage, "role:admin"),
		r(RuleCommunitizeImage, ruleAdminOrMember),
		r(RuleDeleteImage, ruleAdminOrMember),
		r(RuleUploadImage, ruleAdminOrMember),
		r(RuleDownloadImage, "role:admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s or "+
			"'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"),
		r(RuleDeactivate, "role:admin"),
		r(RuleReactivate, "role:admin"),
		r(RuleAddMember, ruleAdminOrMember),
		r(RuleDeleteMember, ruleAdminOrMember),
		r(RuleGetMember, ruleAdminOrReaderSees),
		r(RuleGetMembers, ruleAdminOrReaderSees),
		r(RuleModifyMember, "role:admin or (role:member and project_id:%(member_id)s)"),
	}
}

// DefaultPolicy returns an enforcer with DefaultRules registered (scope
// not enforced, as Glance's default).
func DefaultPolicy() *policy.Enforcer {
	e, err := policy.New(policy.Options{}, DefaultRules()...)
	if err != nil {
		panic("image/api: default rules: " + err.Error()) // the rules are constants
	}
	return e
}

// authorize checks rule for the caller against img (nil: the caller's
// own project). A denial is a 403 naming the rule.
func (a *Handler) authorize(r *http.Request, rule string, img *image.Image) error {
	c, _ := a.caller(r)
	target := policy.Target{"project_id": c.ProjectID, "owner": c.ProjectID, "visibility": "", "member_id": ""}
	if img != nil {
		target["project_id"], target["owner"], target["visibility"] = img.Owner, img.Owner, img.Visibility
		if _, ok := img.MemberOf(c.ProjectID); ok {
			target["member_id"] = c.ProjectID
		}
	}
	err := a.opts.Policy.Authorize(c, rule, target)
	if errors.Is(err, policy.ErrForbidden) {
		return errorf(http.StatusForbidden, "You are not authorized to complete %s action.", rule)
	}
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	return nil
}
