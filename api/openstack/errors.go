package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
)

// faultNames is Nova's wsgi.Fault name map.
var faultNames = map[int]string{
	400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
	405: "badMethod", 409: "conflictingRequest", 410: "gone", 413: "overLimit", 415: "badMediaType",
	429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable",
}

// writeFault writes Nova's error body {"<name>": {"code": N, "message": m}}.
func writeFault(w http.ResponseWriter, code int, msg string) {
	name, ok := faultNames[code]
	if !ok {
		name = "computeFault"
	}
	writeJSON(w, code, map[string]any{name: map[string]any{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// statusOf maps an error to the HTTP status Nova answers with.
func statusOf(err error) int {
	switch {
	case errors.Is(err, api.ErrForbidden), errors.Is(err, compute.ErrQuotaExceeded):
		return http.StatusForbidden
	case errors.Is(err, compute.ErrInvalidInput), errors.Is(err, compute.ErrNoValidHost):
		// Marker errors satisfy both ErrNotFound and ErrInvalidInput: 400.
		return http.StatusBadRequest
	case errors.Is(err, compute.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, compute.ErrConflict), errors.Is(err, compute.ErrInvalidState), errors.Is(err, compute.ErrLocked):
		return http.StatusConflict
	case errors.Is(err, compute.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, compute.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// messageOf returns the message shown to the client: the innermost error
// that carries Nova's wording when there is one, the error text else.
// Internal errors show a generic message (details go to the log).
func messageOf(err error, code int) string {
	if code == http.StatusInternalServerError {
		return "Unexpected API Error. Please report this at https://github.com/novakit/novakit/issues and attach the compute API log if possible."
	}
	if code == http.StatusServiceUnavailable {
		// The cause names backends (database URLs, brokers): it goes to
		// the log, the client gets what it can act on.
		return "The service is temporarily unavailable (a backend it depends on cannot be reached); retry later."
	}
	var (
		br  *api.BadRequestError
		ce  *api.ConflictError
		ni  *api.NotImplementedError
		fe  *api.ForbiddenError
		qe  *api.QuotaError
		ise *compute.InvalidStateError
		nf  *compute.NotFoundError
		ii  *compute.InvalidInputError
		mk  *compute.MarkerNotFoundError
	)
	switch {
	case errors.As(err, &br):
		return br.Message
	case errors.As(err, &ce):
		return ce.Message
	case errors.As(err, &ni):
		return ni.Message
	case errors.As(err, &fe):
		return fe.Error()
	case errors.As(err, &qe):
		return qe.Error()
	case errors.As(err, &ise):
		return ise.Error()
	case errors.As(err, &mk):
		return mk.Error()
	case errors.As(err, &nf):
		return nf.Error() + "."
	case errors.As(err, &ii):
		if ii.Field != "" {
			return "Invalid input for field/attribute " + ii.Field + ". " + ii.Reason
		}
		return "Invalid input received: " + ii.Reason
	}
	return err.Error()
}
