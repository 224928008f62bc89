#!/bin/sh
# setup.sh prepares this machine for drivers/libvirt's tests (Debian 12, no
# systemd, run as root). Idempotent: safe to run again; it only does what is
# missing. It prints the environment the tests read on its last lines.
#
#   drivers/libvirt/testdata/setup.sh            # packages, daemons, guest
#   drivers/libvirt/testdata/setup.sh -headers   # only what the build needs
#
# What it does (see shared/reference/real-parts.md §2):
#  1. apt packages: libvirt-dev + pkg-config (the cgo binding), the libvirt
#     daemon with its QEMU driver, QEMU (TCG) and qemu-img, busybox-static and
#     cpio for the guest's initramfs.
#  2. the libvirt-qemu user libvirt resolves before it reads qemu.conf, the
#     directories virtlogd and libvirtd need, a qemu.conf (QEMU as root, VNC
#     and SPICE on 127.0.0.1), then virtlogd and libvirtd started by hand.
#  3. the tiny guest: Debian's cloud kernel (vmlinuz) and a busybox initramfs
#     whose /init prints NOVAKIT-GUEST-BOOTED on ttyS0, into $GUEST_DIR
#     (default /var/cache/novakit/libvirt-guest).
set -eu

GUEST_DIR=${NOVAKIT_LIBVIRT_GUEST_DIR:-/var/cache/novakit/libvirt-guest}
KERNEL_PKG=${NOVAKIT_LIBVIRT_KERNEL_PKG:-}
export DEBIAN_FRONTEND=noninteractive

apt_install() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends $missing ||
		{ apt-get update -o DPkg::Lock::Timeout=600 && apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends $missing; }
}

apt_install libvirt-dev pkg-config gcc libc6-dev qemu-utils
if [ "${1:-}" = "-headers" ]; then
	exit 0
fi
apt_install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 busybox-static cpio

# 2. daemons without systemd.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt /run/libvirt
conf=/etc/libvirt/qemu.conf
if ! grep -q '^# novakit' "$conf" 2>/dev/null; then
	cat >>"$conf" <<'CONF'
# novakit: QEMU runs as root on CI machines without a kvm group; consoles on loopback
user = "root"
group = "root"
vnc_listen = "127.0.0.1"
spice_listen = "127.0.0.1"
CONF
fi
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
alive /run/virtlogd.pid || virtlogd -d -p /run/virtlogd.pid
if ! alive /run/libvirtd.pid; then
	libvirtd -d -p /run/libvirtd.pid
fi
i=0
until virsh -c qemu:///system version >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "setup.sh: libvirtd did not answer on qemu:///system" >&2; exit 1; }
	sleep 0.1
done

# 3. the guest. Bump RECIPE when the kernel modules or /init change.
RECIPE=3
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk evdev button"
mkdir -p "$GUEST_DIR"
if [ "$(cat "$GUEST_DIR/recipe" 2>/dev/null)" != "$RECIPE" ]; then
	rm -f "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img"
	rm -rf "$GUEST_DIR/modules"
fi
if [ ! -s "$GUEST_DIR/vmlinuz" ]; then
	tmp=$(mktemp -d)
	if [ -z "$KERNEL_PKG" ]; then
		KERNEL_PKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	[ -n "$KERNEL_PKG" ] || KERNEL_PKG=linux-image-6.1.0-56-cloud-amd64
	(cd "$tmp" && apt-get download "$KERNEL_PKG" >/dev/null)
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"
	cp "$tmp"/root/boot/vmlinuz-* "$GUEST_DIR/vmlinuz.tmp"
	kver=$(basename "$tmp"/root/lib/modules/*)
	mkdir -p "$GUEST_DIR/modules"
	for m in $MODULES; do
		f=$(find "$tmp/root/lib/modules/$kver" -name "$m.ko*" | head -1)
		[ -n "$f" ] && cp "$f" "$GUEST_DIR/modules/"
	done
	echo "$kver" >"$GUEST_DIR/kernel-version"
	rm -rf "$tmp"
	mv "$GUEST_DIR/vmlinuz.tmp" "$GUEST_DIR/vmlinuz"
	rm -f "$GUEST_DIR/initrd.img"
fi
if [ ! -s "$GUEST_DIR/initrd.img" ]; then
	tmp=$(mktemp -d)
	mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/modules"
	cp /bin/busybox "$tmp/bin/busybox"
	cp "$GUEST_DIR"/modules/* "$tmp/modules/" 2>/dev/null || true
	cat >"$tmp/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "NOVAKIT-GUEST-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk evdev button; do
	for f in /modules/$m.ko*; do [ -e "$f" ] && insmod "$f" 2>/dev/null; done
done
# The ACPI power button (libvirt's shutdown: clean power-off, soft reboot)
# powers the guest off at once.
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho NOVAKIT-GUEST-POWER-BUTTON\nsync\npoweroff -f\n' >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
mkdir -p /var/log /var/run
acpid -f -c /etc/acpi -l /dev/console &
sleep 1
echo "NOVAKIT-GUEST-DISKS: $(ls /sys/block | tr '\n' ' ')"
while :; do sleep 3600; done
INIT
	chmod +x "$tmp/init"
	(cd "$tmp" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$GUEST_DIR/initrd.img.tmp")
	rm -rf "$tmp"
	mv "$GUEST_DIR/initrd.img.tmp" "$GUEST_DIR/initrd.img"
	echo "$RECIPE" >"$GUEST_DIR/recipe"
fi

echo "NOVAKIT_LIBVIRT_URI=qemu:///system"
echo "NOVAKIT_LIBVIRT_GUEST_DIR=$GUEST_DIR"
