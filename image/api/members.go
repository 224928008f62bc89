package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/image"
)

func memberView(id string, m image.Member) map[string]any {
	return map[string]any{"image_id": id, "member_id": m.ProjectID, "status": m.Status,
		"created_at": fmtTime(m.CreatedAt), "updated_at": fmtTime(m.UpdatedAt), "schema": "/v2/schemas/member"}
}

// listMembers: the owner (and admins) see every member; a member sees
// only itself.
func (a *Handler) listMembers(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	img, err := a.visible(r, id, RuleGetMembers)
	if err != nil {
		writeError(w, err)
		return
	}
	if img.Visibility != image.Shared {
		writeError(w, errorf(403, "Only shared images have members."))
		return
	}
	_, v := a.caller(r)
	out := []any{}
	for _, m := range img.Members {
		if v.CanModify(&img) || m.ProjectID == v.ProjectID {
			out = append(out, memberView(id, m))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out, "schema": "/v2/schemas/members"})
}

func (a *Handler) showMember(w http.ResponseWriter, r *http.Request) {
	id, member := r.PathValue("id"), r.PathValue("member")
	img, err := a.visible(r, id, RuleGetMember)
	if err != nil {
		writeError(w, err)
		return
	}
	_, v := a.caller(r)
	m, ok := img.MemberOf(member)
	if !ok || (!v.CanModify(&img) && member != v.ProjectID) {
		writeError(w, errorf(404, "%s is not a member of image %s.", member, id))
		return
	}
	writeJSON(w, http.StatusOK, memberView(id, m))
}

func (a *Handler) addMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.modifiable(r, id, RuleAddMember); err != nil {
		writeError(w, err)
		return
	}
	b, err := a.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var body struct {
		Member *string `json:"member"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Member == nil {
		writeError(w, errorf(400, "The request body must be {\"member\": \"<project id>\"}."))
		return
	}
	m, err := a.store.AddMember(r.Context(), id, *body.Member)
	if err != nil {
		if errors.Is(err, image.ErrConflict) {
			if img, gerr := a.store.Get(r.Context(), id); gerr == nil && img.Visibility != image.Shared {
				err = errorf(403, "Only shared images have members.")
			}
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, memberView(id, m))
}

// updateMember: only the member (the consumer) decides its status.
func (a *Handler) updateMember(w http.ResponseWriter, r *http.Request) {
	id, member := r.PathValue("id"), r.PathValue("member")
	img, err := a.visible(r, id, "")
	if err != nil {
		writeError(w, err)
		return
	}
	if _, v := a.caller(r); member != v.ProjectID {
		if _, ok := img.MemberOf(member); !ok || !v.CanModify(&img) {
			writeError(w, errorf(404, "%s is not a member of image %s.", member, id))
			return
		}
		writeError(w, errorf(403, "Only the member %s may change its status.", member))
		return
	}
	if err := a.authorize(r, RuleModifyMember, &img); err != nil {
		writeError(w, err)
		return
	}
	b, err := a.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Status == "" {
		writeError(w, errorf(400, "The request body must be {\"status\": \"accepted|rejected|pending\"}."))
		return
	}
	m, err := a.store.SetMemberStatus(r.Context(), id, member, body.Status)
	if errors.Is(err, compute.ErrNotFound) {
		err = errorf(404, "%s is not a member of image %s.", member, id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, memberView(id, m))
}

func (a *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	id, member := r.PathValue("id"), r.PathValue("member")
	if _, err := a.modifiable(r, id, RuleDeleteMember); err != nil {
		writeError(w, err)
		return
	}
	err := a.store.RemoveMember(r.Context(), id, member)
	if errors.Is(err, compute.ErrNotFound) {
		err = errorf(404, "%s is not a member of image %s.", member, id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func memberSchema() map[string]any {
	return map[string]any{
		"name": "member",
		"properties": map[string]any{
			"image_id":   map[string]any{"type": "string", "description": "An identifier for the image"},
			"member_id":  map[string]any{"type": "string", "description": "An identifier for the image member (tenantId)"},
			"status":     map[string]any{"type": "string", "enum": []string{"pending", "accepted", "rejected"}},
			"created_at": map[string]any{"type": "string", "description": "Date and time of image member creation"},
			"updated_at": map[string]any{"type": "string", "description": "Date and time of last modification of image member"},
			"schema":     map[string]any{"type": "string", "readOnly": true},
		},
	}
}

func membersSchema() map[string]any {
	return map[string]any{
		"name": "members",
		"properties": map[string]any{
			"members": map[string]any{"type": "array", "items": memberSchema()},
			"schema":  map[string]any{"type": "string"},
		},
		"links": []map[string]string{{"rel": "describedby", "href": "{schema}"}},
	}
}
