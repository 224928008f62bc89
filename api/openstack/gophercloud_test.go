package openstack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/aggregates"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/availabilityzones"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@novakit"

func gopherClient(e *env, token, microversion string) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{TokenID: token, HTTPClient: *e.srv.Client()}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: e.srv.URL + "/v2.1/", Microversion: microversion, Type: "compute"}
}

// TestGophercloud drives the API with gophercloud v2's compute client, as
// Terraform's OpenStack provider does.
func TestGophercloud(t *testing.T) {
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, mv := range []string{"2.1", "2.47", "2.79", "2.96"} {
		t.Run(mv, func(t *testing.T) {
			c := gopherClient(e, "alice:p1", mv)
			// Flavors.
			pages, err := flavors.ListDetail(c, flavors.ListOpts{}).AllPages(ctx)
			require.NoError(t, err)
			fls, err := flavors.ExtractFlavors(pages)
			require.NoError(t, err)
			require.Len(t, fls, 3, "the private flavor is hidden")
			fl, err := flavors.Get(ctx, c, "2").Extract()
			require.NoError(t, err)
			assert.Equal(t, "m1.small", fl.Name)
			assert.Equal(t, 2048, fl.RAM)
			assert.True(t, fl.IsPublic)

			// Key pairs.
			kpName := "kp-" + strings.ReplaceAll(mv, ".", "_")
			kp, err := keypairs.Create(ctx, c, keypairs.CreateOpts{Name: kpName, PublicKey: testPublicKey}).Extract()
			require.NoError(t, err)
			assert.NotEmpty(t, kp.Fingerprint)
			kpPages, err := keypairs.List(c, nil).AllPages(ctx)
			require.NoError(t, err)
			kps, err := keypairs.ExtractKeyPairs(kpPages)
			require.NoError(t, err)
			assert.NotEmpty(t, kps)
			got, err := keypairs.Get(ctx, c, kpName, nil).Extract()
			require.NoError(t, err)
			assert.Equal(t, testPublicKey, got.PublicKey)

			// Servers.
			opts := servers.CreateOpts{Name: "gc-" + mv, FlavorRef: "1", ImageRef: imageID, Metadata: map[string]string{"role": "web"}}
			if mv != "2.1" {
				opts.Networks = "none"
			}
			srv, err := servers.Create(ctx, c, keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: kpName}, nil).Extract()
			require.NoError(t, err)
			assert.NotEmpty(t, srv.AdminPass)
			require.NoError(t, servers.WaitForStatus(ctx, c, srv.ID, "ACTIVE"))
			s, err := servers.Get(ctx, c, srv.ID).Extract()
			require.NoError(t, err)
			assert.Equal(t, "gc-"+mv, s.Name)
			assert.Equal(t, "p1", s.TenantID)
			assert.Equal(t, kpName, s.KeyName)
			assert.Equal(t, "web", s.Metadata["role"])
			assert.False(t, s.LaunchedAt.IsZero())
			assert.Equal(t, imageID, s.Image["id"])

			allPages, err := servers.List(c, servers.ListOpts{Name: "gc-" + mv}).AllPages(ctx)
			require.NoError(t, err)
			all, err := servers.ExtractServers(allPages)
			require.NoError(t, err)
			require.Len(t, all, 1)
			assert.Equal(t, srv.ID, all[0].ID)

			require.NoError(t, servers.Stop(ctx, c, srv.ID).ExtractErr())
			require.NoError(t, servers.WaitForStatus(ctx, c, srv.ID, "SHUTOFF"))
			require.NoError(t, servers.Start(ctx, c, srv.ID).ExtractErr())
			require.NoError(t, servers.WaitForStatus(ctx, c, srv.ID, "ACTIVE"))
			require.NoError(t, servers.Reboot(ctx, c, srv.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr())
			require.NoError(t, servers.WaitForStatus(ctx, c, srv.ID, "ACTIVE"))
			out, err := servers.ShowConsoleOutput(ctx, c, srv.ID, servers.ShowConsoleOutputOpts{Length: 10}).Extract()
			require.NoError(t, err)
			assert.NotEmpty(t, out)
			md, err := servers.UpdateMetadata(ctx, c, srv.ID, servers.MetadataOpts{"tier": "gold"}).Extract()
			require.NoError(t, err)
			assert.Equal(t, "gold", md["tier"])
			upd, err := servers.Update(ctx, c, srv.ID, servers.UpdateOpts{Name: "renamed-" + mv}).Extract()
			require.NoError(t, err)
			assert.Equal(t, "renamed-"+mv, upd.Name)

			actPages, err := instanceactions.List(c, srv.ID, nil).AllPages(ctx)
			require.NoError(t, err)
			acts, err := instanceactions.ExtractInstanceActions(actPages)
			require.NoError(t, err)
			assert.Len(t, acts, 4) // create, stop, start, reboot

			require.NoError(t, servers.Delete(ctx, c, srv.ID).ExtractErr())
			e.drain()
			_, err = servers.Get(ctx, c, srv.ID).Extract()
			assert.True(t, gophercloud.ResponseCodeIs(err, 404), "%v", err)
			require.NoError(t, keypairs.Delete(ctx, c, kpName, nil).ExtractErr())

			// Limits and quotas.
			l, err := limits.Get(ctx, c, nil).Extract()
			require.NoError(t, err)
			assert.Equal(t, 10, l.Absolute.MaxTotalInstances)
			q, err := quotasets.Get(ctx, c, "p1").Extract()
			require.NoError(t, err)
			assert.Equal(t, 20, q.Cores)

			// Server groups.
			sgOpts := servergroups.CreateOpts{Name: "g-" + mv, Policies: []string{"anti-affinity"}}
			if mv == "2.79" || mv == "2.96" {
				sgOpts = servergroups.CreateOpts{Name: "g-" + mv, Policy: "anti-affinity"}
			}
			sg, err := servergroups.Create(ctx, c, sgOpts).Extract()
			require.NoError(t, err)
			assert.Equal(t, "g-"+mv, sg.Name)
			require.NoError(t, servergroups.Delete(ctx, c, sg.ID).ExtractErr())

			azPages, err := availabilityzones.List(c).AllPages(ctx)
			require.NoError(t, err)
			azs, err := availabilityzones.ExtractAvailabilityZones(azPages)
			require.NoError(t, err)
			require.Len(t, azs, 1)
			assert.Equal(t, "nova", azs[0].ZoneName)
		})
	}
	t.Run("admin", func(t *testing.T) {
		for _, mv := range []string{"2.1", "2.53", "2.88", "2.96"} {
			c := gopherClient(e, "admin:adminproj", mv)
			svcPages, err := services.List(c, nil).AllPages(ctx)
			require.NoError(t, err, mv)
			svcs, err := services.ExtractServices(svcPages)
			require.NoError(t, err, mv)
			assert.Len(t, svcs, 3, mv)
			hvPages, err := hypervisors.List(c, nil).AllPages(ctx)
			require.NoError(t, err, mv)
			hvs, err := hypervisors.ExtractHypervisors(hvPages)
			require.NoError(t, err, mv)
			require.Len(t, hvs, 2, mv)
			assert.Equal(t, "up", hvs[0].State)
			hv, err := hypervisors.Get(ctx, c, hvs[0].ID).Extract()
			require.NoError(t, err, mv)
			assert.Equal(t, hvs[0].HypervisorHostname, hv.HypervisorHostname)
			agPages, err := aggregates.List(c).AllPages(ctx)
			require.NoError(t, err, mv)
			_, err = aggregates.ExtractAggregates(agPages)
			require.NoError(t, err, mv)
		}
		c := gopherClient(e, "admin:adminproj", "2.55")
		f, err := flavors.Create(ctx, c, flavors.CreateOpts{Name: "gc-flavor", RAM: 1024, VCPUs: 2, Disk: gophercloud.IntToPointer(10), ID: "gc1"}).Extract()
		require.NoError(t, err)
		assert.Equal(t, "gc1", f.ID)
		require.NoError(t, flavors.Delete(ctx, c, "gc1").ExtractErr())
		ag, err := aggregates.Create(ctx, c, aggregates.CreateOpts{Name: "rack1", AvailabilityZone: "az1"}).Extract()
		require.NoError(t, err)
		ag, err = aggregates.AddHost(ctx, c, ag.ID, aggregates.AddHostOpts{Host: "host1"}).Extract()
		require.NoError(t, err)
		assert.Equal(t, []string{"host1"}, ag.Hosts)
		assert.Equal(t, "az1", ag.AvailabilityZone)
	})
}
