#!/bin/sh
# thinjail plan for builtin:article
# Review it, then run it as root on the FreeBSD host, or let `thinjail apply` do the same.
set -eu

# thinjail_set_block FILE ID: put standard input between thinjail's markers for ID
# in FILE, replacing that block in place or appending it; the rest of FILE is kept.
thinjail_set_block() {
	[ -e "$1" ] || : > "$1"
	THINJAIL_BLOCK=$(cat) THINJAIL_ID=$2 awk '
		BEGIN { begin = "# BEGIN thinjail " ENVIRON["THINJAIL_ID"]; end = "# END thinjail " ENVIRON["THINJAIL_ID"] }
		NR == FNR { if (!b && $0 == begin) b = FNR; else if (b && !e && $0 == end) e = FNR; next }
		b && e && FNR == b { print begin; print ENVIRON["THINJAIL_BLOCK"]; print end; next }
		b && e && FNR > b && FNR <= e { next }
		{ print }
		END { if (!(b && e)) { print begin; print ENVIRON["THINJAIL_BLOCK"]; print end } }
	' "$1" "$1" > "$1.thinjail-new"
	cat "$1.thinjail-new" > "$1"
	rm -f "$1.thinjail-new"
}

# thinjail_relink TREE WAS NOW: relative symlinks under TREE that pointed outside it
# while it was at WAS in the jail are rewritten to resolve from the jail's root now
# that it is at NOW (the article's move of etc under /skeleton breaks
# /etc/ssl/certs/* -> ../../../usr/share/certs/..., and with it pkg's TLS).
thinjail_relink() {
	find "$1" -type l | while IFS= read -r link; do
		new=$(THINJAIL_REL=${link#"$1"} THINJAIL_TARGET=$(readlink "$link") THINJAIL_WAS=$2 THINJAIL_NOW=$3 awk 'BEGIN {
			t = ENVIRON["THINJAIL_TARGET"]; rel = ENVIRON["THINJAIL_REL"]; was = ENVIRON["THINJAIL_WAS"]
			if (substr(t, 1, 1) == "/") exit
			dir = was rel; sub("/[^/]*$", "", dir)
			n = split(dir "/" t, part, "/"); k = 0
			for (i = 1; i <= n; i++) {
				if (part[i] == "" || part[i] == ".") continue
				if (part[i] == "..") { if (k > 0) k--; continue }
				path[++k] = part[i]
			}
			abs = ""; for (i = 1; i <= k; i++) abs = abs "/" path[i]
			if (abs == was || index(abs, was "/") == 1) exit
			dir = ENVIRON["THINJAIL_NOW"] rel; sub("/[^/]*$", "", dir)
			up = ""; n = split(dir, part, "/"); for (i = 2; i <= n; i++) up = up "../"
			print up substr(abs, 2)
		}')
		if [ -n "$new" ]; then ln -sfn "$new" "$link"; fi
	done
}

# --- stage zfs: ZFS datasets for the bases, templates, jails and mountpoints (article steps 1, 2, 5)
zfs create -o mountpoint=/usr/local/jails zroot/jails
zfs create -p zroot/jails/base/13.1-RELEASE-base
# article step 2: the template is created up front with the other datasets
zfs create -p zroot/jails/base/13.1-RELEASE-template
zfs create zroot/jails/thinjail0
zfs create zroot/jails/.mountpoints

# --- stage install: install each release's base system and snapshot it @install (article step 1)
# article: bsdinstall jail DIR — run unattended: nonInteractive=YES, a mirror and the sets are given
env nonInteractive=YES BSDINSTALL_DISTDIR=/var/cache/thinjail/13.1-RELEASE-amd64 BSDINSTALL_DISTSITE=https://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/amd64/amd64/13.1-RELEASE DISTRIBUTIONS=base.txz bsdinstall jail /usr/local/jails/base/13.1-RELEASE-base
zfs snapshot zroot/jails/base/13.1-RELEASE-base@install

# --- stage skeleton: move jail-specific files into the template, build the skeleton and its links, snapshot both @gold (article steps 2-4)
# article: mkdir $TEMPLATE/usr
mkdir -p /usr/local/jails/base/13.1-RELEASE-template/usr
# article: mv etc $TEMPLATE/etc
# between datasets a move is a copy and a delete: thinjail copies to a temporary name,
# renames, then deletes, so an interruption never leaves half a tree on either side
cp -RPp /usr/local/jails/base/13.1-RELEASE-base/etc /usr/local/jails/base/13.1-RELEASE-template/.etc.thinjail-partial
# relative links leaving the tree break once it is under /skeleton (/etc/ssl/certs/* -> ../../../usr/share/certs/...): rewrite them
thinjail_relink /usr/local/jails/base/13.1-RELEASE-template/.etc.thinjail-partial /etc /skeleton/etc
mv /usr/local/jails/base/13.1-RELEASE-template/.etc.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/etc
# schg files cannot be deleted; cp -p kept the flags on the template's copy
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/etc
rm -rf /usr/local/jails/base/13.1-RELEASE-base/etc
# article: mv usr/home $TEMPLATE/usr/home
cp -RPp /usr/local/jails/base/13.1-RELEASE-base/usr/home /usr/local/jails/base/13.1-RELEASE-template/usr/.home.thinjail-partial
thinjail_relink /usr/local/jails/base/13.1-RELEASE-template/usr/.home.thinjail-partial /usr/home /skeleton/usr/home
mv /usr/local/jails/base/13.1-RELEASE-template/usr/.home.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/usr/home
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/usr/home
rm -rf /usr/local/jails/base/13.1-RELEASE-base/usr/home
# article: mv usr/local $TEMPLATE/usr/local
cp -RPp /usr/local/jails/base/13.1-RELEASE-base/usr/local /usr/local/jails/base/13.1-RELEASE-template/usr/.local.thinjail-partial
thinjail_relink /usr/local/jails/base/13.1-RELEASE-template/usr/.local.thinjail-partial /usr/local /skeleton/usr/local
mv /usr/local/jails/base/13.1-RELEASE-template/usr/.local.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/usr/local
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/usr/local
rm -rf /usr/local/jails/base/13.1-RELEASE-base/usr/local
# article: mv root $TEMPLATE/root
cp -RPp /usr/local/jails/base/13.1-RELEASE-base/root /usr/local/jails/base/13.1-RELEASE-template/.root.thinjail-partial
thinjail_relink /usr/local/jails/base/13.1-RELEASE-template/.root.thinjail-partial /root /skeleton/root
mv /usr/local/jails/base/13.1-RELEASE-template/.root.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/root
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/root
rm -rf /usr/local/jails/base/13.1-RELEASE-base/root
# article: mv tmp $TEMPLATE/tmp
cp -RPp /usr/local/jails/base/13.1-RELEASE-base/tmp /usr/local/jails/base/13.1-RELEASE-template/.tmp.thinjail-partial
thinjail_relink /usr/local/jails/base/13.1-RELEASE-template/.tmp.thinjail-partial /tmp /skeleton/tmp
mv /usr/local/jails/base/13.1-RELEASE-template/.tmp.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/tmp
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/tmp
rm -rf /usr/local/jails/base/13.1-RELEASE-base/tmp
# article: mv var $TEMPLATE/var
cp -RPp /usr/local/jails/base/13.1-RELEASE-base/var /usr/local/jails/base/13.1-RELEASE-template/.var.thinjail-partial
thinjail_relink /usr/local/jails/base/13.1-RELEASE-template/.var.thinjail-partial /var /skeleton/var
mv /usr/local/jails/base/13.1-RELEASE-template/.var.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/var
# article: chflags 0 var/empty; rm -r var — base.txz has other schg files too, so flags are cleared on the whole tree
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/var
rm -rf /usr/local/jails/base/13.1-RELEASE-base/var
# article: echo 'default_router=...' >> ./etc/rc.conf — sysrc sets it in place, so a second run adds no duplicate line
sysrc -f /usr/local/jails/base/13.1-RELEASE-template/etc/rc.conf default_router=192.168.1.1
# article: zfs snap — `snapshot` is the spelling every zfs accepts
zfs snapshot zroot/jails/base/13.1-RELEASE-template@gold
# article: mkdir skeleton
mkdir -p /usr/local/jails/base/13.1-RELEASE-base/skeleton
ln -s ./skeleton/etc /usr/local/jails/base/13.1-RELEASE-base/etc
ln -s ../skeleton/usr/home /usr/local/jails/base/13.1-RELEASE-base/usr/home
ln -s ../skeleton/usr/local /usr/local/jails/base/13.1-RELEASE-base/usr/local
ln -s ./skeleton/root /usr/local/jails/base/13.1-RELEASE-base/root
ln -s ./skeleton/tmp /usr/local/jails/base/13.1-RELEASE-base/tmp
ln -s ./skeleton/var /usr/local/jails/base/13.1-RELEASE-base/var
zfs snapshot zroot/jails/base/13.1-RELEASE-base@gold

# --- stage mount: each jail's data from the template's @gold, its mountpoint and its fstab (article step 5)
# article: a full copy, not a clone, so the jail does not depend on the template
zfs send zroot/jails/base/13.1-RELEASE-template@gold | zfs receive zroot/jails/thinjail0/data
mkdir -p /usr/local/jails/.mountpoints/thinjail0
cat > /usr/local/jails/thinjail0/fstab <<'EOF'
/usr/local/jails/base/13.1-RELEASE-base  /usr/local/jails/.mountpoints/thinjail0  nullfs  ro  0   0
/usr/local/jails/thinjail0/data  /usr/local/jails/.mountpoints/thinjail0/skeleton  nullfs  rw  0   0
EOF

# --- stage rcconf: jail.conf entries, jail_enable in rc.conf, and starting the jails (article step 6)
# article: the settings go at the top of /etc/jail.conf, where they would also change the administrator's own jails;
# thinjail writes them inside each jail's block, between markers it finds again, and keeps the rest of the file
thinjail_set_block /etc/jail.conf 'jail thinjail0' <<'EOF'
thinjail0 {
    host.hostname = "thinjail0";
    path = "/usr/local/jails/.mountpoints/thinjail0";
    mount.fstab = "/usr/local/jails/thinjail0/fstab";
    exec.start = "/bin/sh /etc/rc";
    exec.stop = "/bin/sh /etc/rc.shutdown";
    exec.clean;
    mount.devfs;
    devfs_ruleset = 4;
    enforce_statfs = 2;
    interface = "em0";
    ip4.addr = 192.168.1.70;
    allow.raw_sockets;
}
EOF
# article: jail_enable="YES" in /etc/rc.conf starts the jails at boot
sysrc -f /etc/rc.conf jail_enable=YES
# article: service jail start — that starts every jail in the file; thinjail starts its own
jail -f /etc/jail.conf -c thinjail0
