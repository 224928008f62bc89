package libvirt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"

	"github.com/novakit/novakit/compute"
)

// BenchmarkBootToMarker measures, in one run and alternating each
// iteration (and which of the two goes first), how long the tiny guest takes from the request to its own
// marker on the serial console:
//
//   - raw: virDomainCreate of an already defined domain (disks made) through
//     the bare binding, then the console log file polled;
//   - api: Driver.Spawn of a new guest (image cache warm: overlay, kernel
//     and ramdisk, config, define, start), then Driver.ConsoleOutput polled.
//
// It reports raw-ms and api-ms per boot, their difference (overhead-ms,
// the driver's cost over libvirt's), and how long each call took to return
// (create-return-ms, spawn-return-ms). Both poll every 5 ms. A TCG boot
// varies by hundreds of milliseconds between runs, so overhead-p50-ms, the
// median of the per-iteration (paired) differences, is the figure to read.
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
	var diffs []time.Duration // api - raw per iteration (paired)
	runRaw := func() time.Duration {
		if err := os.Truncate(logPath, 0); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := dom.Create(); err != nil {
			b.Fatal(err)
		}
		createRet += time.Since(t0)
		poll(func() []byte { out, _ := os.ReadFile(logPath); return out })
		took := time.Since(t0)
		b.StopTimer()
		if err := dom.Destroy(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		return took
	}
	runAPI := func() time.Duration {
		b.StopTimer()
		s := guestSpec()
		b.StartTimer()
		t0 := time.Now()
		h, err := d.Spawn(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		spawnRet += time.Since(t0)
		g := compute.Guest{UUID: s.Instance.UUID, Handle: h}
		poll(func() []byte { out, _ := d.ConsoleOutput(ctx, g); return out })
		took := time.Since(t0)
		b.StopTimer()
		if err := d.Destroy(ctx, g, compute.DestroyOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		return took
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate which goes first, so neither always boots right after
		// the other's teardown.
		var rawOne, apiOne time.Duration
		if i%2 == 0 {
			rawOne = runRaw()
			apiOne = runAPI()
		} else {
			apiOne = runAPI()
			rawOne = runRaw()
		}
		rawTotal += rawOne
		apiTotal += apiOne
		diffs = append(diffs, apiOne-rawOne)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(rawTotal), "raw-ms")
	b.ReportMetric(ms(apiTotal), "api-ms")
	b.ReportMetric(ms(apiTotal-rawTotal), "overhead-ms")
	b.ReportMetric(ms(createRet), "create-return-ms")
	b.ReportMetric(ms(spawnRet), "spawn-return-ms")
	// The TCG boot itself varies by hundreds of milliseconds from one boot
	// to the next, so the mean difference is noisy; the median of the
	// paired differences is the robust overhead figure.
	slices.Sort(diffs)
	b.ReportMetric(float64(diffs[len(diffs)/2].Microseconds())/1000, "overhead-p50-ms")
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
