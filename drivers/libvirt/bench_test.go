package libvirt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"

	"github.com/novakit/novakit/compute"
)

// BenchmarkBootToMarker measures, in one run and alternating each
// iteration, how long the tiny guest takes from the request to its own
// marker on the serial console:
//
//   - raw: virDomainCreate of an already defined domain (disks made) through
//     the bare binding, then the console log file polled;
//   - api: Driver.Spawn of a new guest (image cache warm: overlay, kernel
//     and ramdisk, config, define, start), then Driver.ConsoleOutput polled.
//
// It reports raw-ms and api-ms per boot, their difference (overhead-ms,
// the driver's cost over libvirt's), and how long each call took to return
// (create-return-ms, spawn-return-ms). Both poll every 5 ms.
//
//	go test -run '^$' -bench BootToMarker -benchtime 5x ./drivers/libvirt/
func BenchmarkBootToMarker(b *testing.B) {
	images := guestImages(b)
	d := openReal(b, b.TempDir(), images)
	ctx := context.Background()
	// The raw guest: made once by the driver, powered off.
	raw := guestSpec()
	if _, err := d.Spawn(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Destroy(ctx, compute.Guest{UUID: raw.Instance.UUID}, compute.DestroyOptions{}) })
	if err := d.PowerOff(ctx, compute.Guest{UUID: raw.Instance.UUID}, 0); err != nil {
		b.Fatal(err)
	}
	conn, err := golibvirt.NewConnect(realURI())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	dom, err := conn.LookupDomainByUUIDString(raw.Instance.UUID)
	if err != nil {
		b.Fatal(err)
	}
	defer dom.Free()
	logPath := filepath.Join(d.InstancesPath(), raw.Instance.UUID, "console.log")
	marker := []byte(guestMarker)
	poll := func(read func() []byte) {
		deadline := time.Now().Add(3 * time.Minute)
		for !bytes.Contains(read(), marker) {
			if time.Now().After(deadline) {
				b.Fatal("no marker after 3 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	var rawTotal, apiTotal, createRet, spawnRet time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// raw
		if err := os.Truncate(logPath, 0); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := dom.Create(); err != nil {
			b.Fatal(err)
		}
		createRet += time.Since(t0)
		poll(func() []byte { out, _ := os.ReadFile(logPath); return out })
		rawTotal += time.Since(t0)
		b.StopTimer()
		if err := dom.Destroy(); err != nil {
			b.Fatal(err)
		}
		s := guestSpec()
		b.StartTimer()

		// api
		t0 = time.Now()
		h, err := d.Spawn(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		spawnRet += time.Since(t0)
		g := compute.Guest{UUID: s.Instance.UUID, Handle: h}
		poll(func() []byte { out, _ := d.ConsoleOutput(ctx, g); return out })
		apiTotal += time.Since(t0)
		b.StopTimer()
		if err := d.Destroy(ctx, g, compute.DestroyOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(rawTotal), "raw-ms")
	b.ReportMetric(ms(apiTotal), "api-ms")
	b.ReportMetric(ms(apiTotal-rawTotal), "overhead-ms")
	b.ReportMetric(ms(createRet), "create-return-ms")
	b.ReportMetric(ms(spawnRet), "spawn-return-ms")
}

// BenchmarkSpawnOverhead isolates the driver's own cost from the boot: a
// powered-off Spawn of a new guest (image cache warm: root overlay with
// qemu-img, kernel and ramdisk links, guest.json, render, define) against
// a bare virDomainDefineXML of the same domain XML through the binding,
// alternating in one run; both are undone outside the timing. It reports
// raw-ms, api-ms and overhead-ms per guest.
//
//	go test -run '^$' -bench SpawnOverhead -benchtime 20x ./drivers/libvirt/
func BenchmarkSpawnOverhead(b *testing.B) {
	images := guestImages(b)
	d := openReal(b, b.TempDir(), images)
	ctx := context.Background()
	conn, err := golibvirt.NewConnect(realURI())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	// One spawn warms the image cache and gives the XML the raw side defines.
	warm := guestSpec()
	warm.PowerOn = false
	h, err := d.Spawn(ctx, warm)
	if err != nil {
		b.Fatal(err)
	}
	xml, err := d.DomainXML(ctx, compute.Guest{UUID: warm.Instance.UUID, Handle: h})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Destroy(ctx, compute.Guest{UUID: warm.Instance.UUID}, compute.DestroyOptions{KeepDisks: true}); err != nil {
		b.Fatal(err)
	}
	var rawTotal, apiTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		dom, err := conn.DomainDefineXML(xml)
		if err != nil {
			b.Fatal(err)
		}
		rawTotal += time.Since(t0)
		b.StopTimer()
		if err := dom.Undefine(); err != nil {
			b.Fatal(err)
		}
		dom.Free()
		s := guestSpec()
		s.PowerOn = false
		b.StartTimer()

		t0 = time.Now()
		h, err := d.Spawn(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		apiTotal += time.Since(t0)
		b.StopTimer()
		if err := d.Destroy(ctx, compute.Guest{UUID: s.Instance.UUID, Handle: h}, compute.DestroyOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(rawTotal), "raw-ms")
	b.ReportMetric(ms(apiTotal), "api-ms")
	b.ReportMetric(ms(apiTotal-rawTotal), "overhead-ms")
}
