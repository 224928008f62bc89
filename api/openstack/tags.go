package openstack

import (
	"net/http"
	"slices"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
)

func tagItem() M {
	return M{"type": "string", "minLength": 1, "maxLength": 60, "pattern": `^[^,/]*$`}
}

func tagsSchema(Version) M {
	return object(M{"tags": M{"type": "array", "items": tagItem(), "maxItems": api.MaxTags}}, "tags")
}

func (h *Handler) tagsIndex(w http.ResponseWriter, r *http.Request) {
	tags, err := h.api.Tags(r.Context(), r.PathValue("id"), api.RuleTagsIndex)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
}

func (h *Handler) tagsReplace(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tags []string `json:"tags"`
	}
	if _, err := h.body(r, "tags", &body); err != nil {
		h.failAny(w, r, err)
		return
	}
	tags, err := h.api.UpdateTags(r.Context(), r.PathValue("id"), api.RuleTagsUpdateAll, func([]string) ([]string, error) {
		var out []string
		for _, t := range body.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		return out, nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
}

func (h *Handler) tagsDeleteAll(w http.ResponseWriter, r *http.Request) {
	if _, err := h.api.UpdateTags(r.Context(), r.PathValue("id"), api.RuleTagsDeleteAll, func([]string) ([]string, error) { return nil, nil }); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) tagShow(w http.ResponseWriter, r *http.Request) {
	tags, err := h.api.Tags(r.Context(), r.PathValue("id"), api.RuleTagsShow)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !slices.Contains(tags, r.PathValue("tag")) {
		h.fail(w, r, compute.NotFound("Tag "+r.PathValue("tag")+" on instance", r.PathValue("id")))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) tagAdd(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue("tag")
	if err := h.schemas.validate("tag", info(r).v, tag); err != nil {
		h.fail(w, r, err)
		return
	}
	existed := false
	_, err := h.api.UpdateTags(r.Context(), r.PathValue("id"), api.RuleTagsUpdate, func(cur []string) ([]string, error) {
		existed = slices.Contains(cur, tag)
		if existed {
			return cur, nil
		}
		return append(cur, tag), nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if existed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Location", info(r).url("servers/"+r.PathValue("id")+"/tags/"+tag))
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) tagDelete(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue("tag")
	_, err := h.api.UpdateTags(r.Context(), r.PathValue("id"), api.RuleTagsDelete, func(cur []string) ([]string, error) {
		i := slices.Index(cur, tag)
		if i < 0 {
			return nil, compute.NotFound("Tag "+tag+" on instance", r.PathValue("id"))
		}
		return slices.Delete(cur, i, i+1), nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ips answers GET /servers/{id}/ips: novakit has no networking service
// yet, so servers have no addresses.
func (h *Handler) ips(w http.ResponseWriter, r *http.Request) {
	if _, err := h.api.GetServer(r.Context(), r.PathValue("id"), api.RuleServersShow); err != nil {
		h.fail(w, r, err)
		return
	}
	if label := r.PathValue("label"); label != "" {
		h.fail(w, r, compute.NotFound("Network", label))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"addresses": map[string]any{}})
}
