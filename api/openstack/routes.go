package openstack

import (
	"net/http"
)

// schemaTable names every request schema the handler checks.
func schemaTable() map[string]schemaFn {
	t := map[string]schemaFn{
		"server_create": serverCreateSchema,
		"server_update": serverUpdateSchema,
		"servers_list":  serverListQuery,
		"flavors_list":  flavorListQuery,
		"flavor_create": flavorCreateSchema,
		"flavor_update": func(Version) M {
			return object(M{"flavor": object(M{"description": nullable(M{"type": "string", "maxLength": 65535})}, "description")}, "flavor")
		},
		"flavor_action":       flavorActionSchema,
		"extra_specs":         extraSpecsSchema,
		"extra_spec_item":     extraSpecItemSchema,
		"keypair_create":      keypairCreateSchema,
		"keypairs_query":      keypairQuery,
		"metadata":            func(Version) M { return object(M{"metadata": metadata()}, "metadata") },
		"metadata_item":       func(Version) M { return object(M{"meta": metadata()}, "meta") },
		"quota_update":        quotaUpdateSchema,
		"server_group_create": serverGroupCreateSchema,
		"services_query":      servicesQuery,
		"service_legacy":      serviceLegacySchema,
		"service_update":      serviceUpdateSchema,
		"hypervisors_query":   hypervisorQuery,
		"actions_query":       actionsQuery,
		"migrations_query":    migrationsQuery,
		"aggregate_create":    aggregateCreateSchema,
		"aggregate_update":    aggregateUpdateSchema,
		"aggregate_action":    aggregateActionSchema,
		"remote_console":      remoteConsoleSchema,
		"tags":                tagsSchema,
		"usage_query":         usageQuery,
		"tag":                 func(Version) M { return tagItem() },
	}
	for action := range actionSchemas(MaxVersion) {
		a := action
		t[actionSchemaName(a)] = func(v Version) M {
			s, ok := actionSchemas(v)[a]
			if !ok {
				s = M{"not": M{}}
			}
			return object(M{a: s}, a)
		}
	}
	return t
}

// since wraps a route that exists from microversion 2.minor on: earlier
// versions get 404, as Nova's versioned routes do.
func since(minor int, f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !info(r).v.AtLeast(minor) {
			writeFault(w, http.StatusNotFound, "The resource could not be found.")
			return
		}
		f(w, r)
	}
}

func gone(w http.ResponseWriter, _ *http.Request) {
	writeFault(w, http.StatusGone, "This API is no longer available.")
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": h.v21Doc(r, true)})
	})
	// servers
	m.HandleFunc("GET /servers", h.listServers(false))
	m.HandleFunc("GET /servers/detail", h.listServers(true))
	m.HandleFunc("POST /servers", h.createServer)
	m.HandleFunc("GET /servers/{id}", h.showServer)
	m.HandleFunc("PUT /servers/{id}", h.updateServer)
	m.HandleFunc("DELETE /servers/{id}", h.deleteServer)
	m.HandleFunc("POST /servers/{id}/action", h.serverAction)
	m.HandleFunc("POST /servers/{id}/remote-consoles", since(6, h.remoteConsole))
	m.HandleFunc("GET /servers/{id}/metadata", h.metadataIndex)
	m.HandleFunc("POST /servers/{id}/metadata", h.metadataWrite(false))
	m.HandleFunc("PUT /servers/{id}/metadata", h.metadataWrite(true))
	m.HandleFunc("GET /servers/{id}/metadata/{key}", h.metadataShow)
	m.HandleFunc("PUT /servers/{id}/metadata/{key}", h.metadataPutKey)
	m.HandleFunc("DELETE /servers/{id}/metadata/{key}", h.metadataDelete)
	m.HandleFunc("GET /servers/{id}/tags", since(26, h.tagsIndex))
	m.HandleFunc("PUT /servers/{id}/tags", since(26, h.tagsReplace))
	m.HandleFunc("DELETE /servers/{id}/tags", since(26, h.tagsDeleteAll))
	m.HandleFunc("GET /servers/{id}/tags/{tag}", since(26, h.tagShow))
	m.HandleFunc("PUT /servers/{id}/tags/{tag}", since(26, h.tagAdd))
	m.HandleFunc("DELETE /servers/{id}/tags/{tag}", since(26, h.tagDelete))
	m.HandleFunc("GET /servers/{id}/ips", h.ips)
	m.HandleFunc("GET /servers/{id}/ips/{label}", h.ips)
	m.HandleFunc("GET /servers/{id}/os-instance-actions", h.listActions)
	m.HandleFunc("GET /servers/{id}/os-instance-actions/{rid}", h.showAction)
	// flavors
	m.HandleFunc("GET /flavors", h.listFlavors(false))
	m.HandleFunc("GET /flavors/detail", h.listFlavors(true))
	m.HandleFunc("POST /flavors", h.createFlavor)
	m.HandleFunc("GET /flavors/{id}", h.showFlavor)
	m.HandleFunc("PUT /flavors/{id}", since(55, h.updateFlavor))
	m.HandleFunc("DELETE /flavors/{id}", h.deleteFlavor)
	m.HandleFunc("GET /flavors/{id}/os-flavor-access", h.flavorAccess)
	m.HandleFunc("POST /flavors/{id}/action", h.flavorAction)
	m.HandleFunc("GET /flavors/{id}/os-extra_specs", h.extraSpecs)
	m.HandleFunc("POST /flavors/{id}/os-extra_specs", h.createExtraSpecs)
	m.HandleFunc("GET /flavors/{id}/os-extra_specs/{key}", h.showExtraSpec)
	m.HandleFunc("PUT /flavors/{id}/os-extra_specs/{key}", h.putExtraSpec)
	m.HandleFunc("DELETE /flavors/{id}/os-extra_specs/{key}", h.deleteExtraSpec)
	// key pairs
	m.HandleFunc("GET /os-keypairs", h.listKeypairs)
	m.HandleFunc("POST /os-keypairs", h.createKeypair)
	m.HandleFunc("GET /os-keypairs/{name}", h.showKeypair)
	m.HandleFunc("DELETE /os-keypairs/{name}", h.deleteKeypair)
	// limits and quotas
	m.HandleFunc("GET /limits", h.limits)
	m.HandleFunc("GET /os-quota-sets/{project}", h.quotaShow(false))
	m.HandleFunc("GET /os-quota-sets/{project}/detail", h.quotaShow(true))
	m.HandleFunc("GET /os-quota-sets/{project}/defaults", h.quotaDefaults)
	m.HandleFunc("PUT /os-quota-sets/{project}", h.quotaUpdate)
	m.HandleFunc("DELETE /os-quota-sets/{project}", h.quotaDelete)
	// zones, groups, services, hypervisors, migrations, aggregates
	m.HandleFunc("GET /os-availability-zone", h.availabilityZones(false))
	m.HandleFunc("GET /os-availability-zone/detail", h.availabilityZones(true))
	m.HandleFunc("GET /os-server-groups", h.listServerGroups)
	m.HandleFunc("POST /os-server-groups", h.createServerGroup)
	m.HandleFunc("GET /os-server-groups/{id}", h.showServerGroup)
	m.HandleFunc("DELETE /os-server-groups/{id}", h.deleteServerGroup)
	m.HandleFunc("GET /os-services", h.listServices)
	m.HandleFunc("PUT /os-services/{id}", h.updateServiceLegacy)
	m.HandleFunc("DELETE /os-services/{id}", h.deleteService)
	m.HandleFunc("GET /os-hypervisors", h.listHypervisors(false))
	m.HandleFunc("GET /os-hypervisors/detail", h.listHypervisors(true))
	m.HandleFunc("GET /os-hypervisors/statistics", h.hypervisorStatistics)
	m.HandleFunc("GET /os-hypervisors/{id}", h.showHypervisor)
	m.HandleFunc("GET /os-migrations", h.listMigrations)
	m.HandleFunc("GET /os-simple-tenant-usage", h.usageList)
	m.HandleFunc("GET /os-simple-tenant-usage/{project}", h.usageShow)
	m.HandleFunc("GET /os-aggregates", h.listAggregates)
	m.HandleFunc("POST /os-aggregates", h.createAggregate)
	m.HandleFunc("GET /os-aggregates/{id}", h.showAggregate)
	m.HandleFunc("PUT /os-aggregates/{id}", h.updateAggregate)
	m.HandleFunc("DELETE /os-aggregates/{id}", h.deleteAggregate)
	m.HandleFunc("POST /os-aggregates/{id}/action", h.aggregateAction)
	// removed nova-network era APIs
	for _, p := range []string{"/os-fping", "/os-cloudpipe", "/os-certificates", "/os-agents", "/os-cells", "/os-fixed-ips", "/os-floating-ips-bulk", "/os-floating-ip-dns", "/os-networks", "/os-security-group-default-rules"} {
		m.HandleFunc(p, gone)
		m.HandleFunc(p+"/", gone)
	}
}
