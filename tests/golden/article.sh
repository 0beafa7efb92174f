#!/bin/sh
# thinjail plan for builtin:article
# Review it, then run it as root on the FreeBSD host, or let `thinjail apply` do the same.
set -eu
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
umask 022
# fetch downloads: thinjail passes it the proxy variables set in its environment
# (HTTP_PROXY http_proxy HTTP_PROXY_AUTH FTP_PROXY ftp_proxy NO_PROXY no_proxy), and no other command gets any.
# (Run by hand, this script's commands see this shell's whole environment.)

# thinjail_rc_edit FILE set|add|remove|record|restore NAME VALUE: in the rc.conf(5)-style
# FILE, set NAME to VALUE, or add or remove the word VALUE in NAME's list, as thinjail's
# native edit does (not sysrc, whose awk -v would read backslashes in VALUE as
# escapes): the value of the last assignment is rewritten in place, its indent and
# what follows it on the line (a comment) kept, or NAME="VALUE" is appended. "record"
# sets like "set" and, once, notes the old value at the end of the line
# (" # thinjail: was=OLD", or " # thinjail: was unset" on a line it appends);
# "restore" puts that value back and drops the note, or the line it appended. A value
# the shell would compute, or one left open at the end of its line, is refused and
# FILE left as it is.
thinjail_rc_edit() {
	if [ ! -e "$1" ]; then
		[ "$2" = remove ] || [ "$2" = restore ] && return 0
		: > "$1"
	fi
	if [ -n "$(tail -c 1 "$1")" ]; then THINJAIL_NOEOL=1; else THINJAIL_NOEOL=; fi
	THINJAIL_MODE=$2 THINJAIL_NAME=$3 THINJAIL_VALUE=$4 THINJAIL_NOEOL=$THINJAIL_NOEOL awk '
		function parse(s,    i) {
			i = 1
			while (substr(s, i, 1) == " " || substr(s, i, 1) == "\t") i++
			indent = substr(s, 1, i - 1); s = substr(s, i)
			if (substr(s, 1, length(name) + 1) != name "=") return 0
			rest = substr(s, length(name) + 2)
			return 1
		}
		function word_end(s,    i, n, c, j) {
			n = length(s); i = 1
			while (i <= n) {
				c = substr(s, i, 1)
				if (c == " " || c == "\t" || c == ";" || c == "&" || c == "|" || c == "<" || c == ">" || c == "(" || c == ")") break
				if (c == "`" || c == "$") return -1
				if (c == "\\") { if (i + 1 > n) return -1; i += 2; continue }
				if (c == "'\''") { j = index(substr(s, i + 1), "'\''"); if (j == 0) return -1; i += j + 1; continue }
				if (c == "\"") {
					i++
					while (1) {
						if (i > n) return -1
						c = substr(s, i, 1)
						if (c == "\"") break
						if (c == "`" || c == "$") return -1
						if (c == "\\") i += 2; else i++
					}
				}
				i++
			}
			return i - 1
		}
		function unquote(w,    out, i, n, c, d, j) {
			out = ""; n = length(w); i = 1
			while (i <= n) {
				c = substr(w, i, 1)
				if (c == "\\") { out = out substr(w, i + 1, 1); i += 2; continue }
				if (c == "'\''") {
					j = index(substr(w, i + 1), "'\''")
					if (j == 0) { out = out substr(w, i + 1); break }
					out = out substr(w, i + 1, j - 1); i += j + 1; continue
				}
				if (c == "\"") {
					i++
					while (i <= n) {
						c = substr(w, i, 1)
						if (c == "\"") break
						d = substr(w, i + 1, 1)
						if (c == "\\" && (d == "\\" || d == "\"" || d == "$" || d == "`")) { out = out d; i += 2; continue }
						out = out c; i++
					}
					i++; continue
				}
				out = out c; i++
			}
			return out
		}
		function quote(v,    out, i, c) {
			out = ""
			for (i = 1; i <= length(v); i++) {
				c = substr(v, i, 1)
				if (c == "\\" || c == "\"" || c == "$" || c == "`") out = out "\\"
				out = out c
			}
			return "\"" out "\""
		}
		function words_of(s, w,    n, i, c, cur) {
			n = 0; cur = ""
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c == " " || c == "\t" || c == "\n") { if (cur != "") { w[++n] = cur; cur = "" } }
				else cur = cur c
			}
			if (cur != "") w[++n] = cur
			return n
		}
		function trim(s) { sub(/^[ \t\n]+/, "", s); sub(/[ \t\n]+$/, "", s); return s }
		function record_at(t,    at, k, after) {
			at = 0
			while ((k = index(substr(t, at + 1), RP)) > 0) at += k
			if (!at) return 0
			after = substr(t, at + length(RP))
			if (after == " unset" || substr(after, 1, 1) == "=") return at
			return 0
		}
		function decide(    we, current, n, k, words, kept, found, tail, at, after) {
			decided = 1; change = 1
			if (last) { parse(lastline); we = word_end(rest); current = unquote(we < 0 ? rest : substr(rest, 1, we)) }
			else current = ""
			if (mode == "restore") {
				if (!last) { change = 0; return }
				if (we < 0) {
					print FILENAME ": line " last ": the value of " name " is not a plain one-line value; edit it by hand; nothing was rewritten" > "/dev/stderr"
					failed = 1; exit 1
				}
				tail = substr(rest, we + 1); at = record_at(tail)
				if (!at) { change = 0; return }
				after = substr(tail, at + length(RP))
				if (after == " unset") drop = 1
				else edited = indent name "=" substr(after, 2) substr(tail, 1, at - 1)
				return
			}
			if (mode == "set" || mode == "record") new = value
			else {
				n = words_of(current, words); found = 0; kept = ""
				for (k = 1; k <= n; k++) if (words[k] == value) found = 1; else kept = kept (kept == "" ? "" : " ") words[k]
				if (mode == "add") { if (found) change = 0; else new = trim(current) == "" ? value : trim(current) " " value }
				else { if (!found) change = 0; else new = kept }
			}
			if (change && last && we < 0) {
				print FILENAME ": line " last ": the value of " name " is not a plain one-line value; edit it by hand; nothing was rewritten" > "/dev/stderr"
				failed = 1; exit 1
			}
			if (change && last) {
				tail = substr(rest, we + 1)
				edited = indent name "=" quote(new) tail
				if (mode == "record" && !record_at(tail)) edited = edited RP "=" substr(rest, 1, we)
			}
		}
		function emit(s, is_last) { if (held) print line; line = s; held = 1; held_last = is_last }
		BEGIN { mode = ENVIRON["THINJAIL_MODE"]; name = ENVIRON["THINJAIL_NAME"]; value = ENVIRON["THINJAIL_VALUE"]; RP = " # thinjail: was" }
		NR == FNR { if (parse($0)) { last = FNR; lastline = $0 } total = FNR; next }
		!decided { decide() }
		change && drop && FNR == last { next }
		{ emit(change && FNR == last ? edited : $0, FNR == total) }
		END {
			if (failed) exit 1
			if (!decided) decide()
			if (failed) exit 1
			if (change && !last) { if (held) print line; print name "=" quote(new) (mode == "record" ? RP " unset" : "") }
			else if (held) { if (held_last && ENVIRON["THINJAIL_NOEOL"] != "") printf "%s", line; else print line }
		}
	' "$1" "$1" > "$1.thinjail-new" || { rm -f "$1.thinjail-new"; return 1; }
	cat "$1.thinjail-new" > "$1"
	rm -f "$1.thinjail-new"
}

# thinjail_verify FILE MANIFEST [keep]: FILE's SHA-256 must be the one MANIFEST lists
# for it; otherwise FILE is deleted (unless "keep") and the script stops before
# anything is extracted.
thinjail_verify() {
	want=$(awk -F '\t' -v name="${1##*/}" '$1 == name { print $2; exit }' "$2")
	got=$(sha256 -q "$1")
	if [ -z "$want" ] || [ "$got" != "$want" ]; then
		echo "checksum mismatch for $1 (MANIFEST: ${want:-none}, file: $got)" >&2
		[ "${3:-}" = keep ] || rm -f "$1"
		return 1
	fi
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
# every dataset thinjail creates carries thinjail:managed=zroot/jails: a dataset without it is never taken for thinjail's
zfs create -o mountpoint=/usr/local/jails -o thinjail:managed=zroot/jails zroot/jails
# article: zfs create -p — the parent is created on its own, so that it carries thinjail's mark too
zfs create -o thinjail:managed=zroot/jails zroot/jails/base
zfs create -o thinjail:managed=zroot/jails zroot/jails/base/13.1-RELEASE-base
# article step 2: the template is created up front with the other datasets
zfs create -o thinjail:managed=zroot/jails zroot/jails/base/13.1-RELEASE-template
zfs create -o thinjail:managed=zroot/jails zroot/jails/thinjail0
zfs create -o thinjail:managed=zroot/jails zroot/jails/.mountpoints

# --- stage install: install each release's base system and snapshot it @install (article step 1)
mkdir -p /var/cache/thinjail/13.1-RELEASE-amd64
# the cache must be root's alone: apply makes host.cache_dir with mode 0700 and refuses one that someone else owns or can write to, so the sets verified below are the very files extracted
fetch -o - https://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/amd64/amd64/13.1-RELEASE/MANIFEST > /var/cache/thinjail/13.1-RELEASE-amd64/MANIFEST.part
mv /var/cache/thinjail/13.1-RELEASE-amd64/MANIFEST.part /var/cache/thinjail/13.1-RELEASE-amd64/MANIFEST
fetch -o - https://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/amd64/amd64/13.1-RELEASE/base.txz > /var/cache/thinjail/13.1-RELEASE-amd64/base.txz.part
mv /var/cache/thinjail/13.1-RELEASE-amd64/base.txz.part /var/cache/thinjail/13.1-RELEASE-amd64/base.txz
thinjail_verify /var/cache/thinjail/13.1-RELEASE-amd64/base.txz /var/cache/thinjail/13.1-RELEASE-amd64/MANIFEST
# article: bsdinstall jail DIR — run unattended (nonInteractive=YES) on the sets verified above: given a mirror, its jail script skips MANIFEST and its checksum step then verifies nothing, so it gets BSDINSTALL_DISTDIR with MANIFEST and every set, and no mirror
env nonInteractive=YES BSDINSTALL_DISTDIR=/var/cache/thinjail/13.1-RELEASE-amd64 DISTRIBUTIONS=base.txz bsdinstall jail /usr/local/jails/base/13.1-RELEASE-base
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
# the base has no usr/home; the template gets an empty one
mkdir -p /usr/local/jails/base/13.1-RELEASE-template/usr/home
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
mkdir -p /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial
# the release's etcupdate tree, from its own files as every jail gets them (before the recipe's template changes): etcupdate's three-way merge needs it as the jail's baseline
cp -RPp /usr/local/jails/base/13.1-RELEASE-template/etc /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial/etc
cp -RPp /usr/local/jails/base/13.1-RELEASE-template/root /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial/root
cp -RPp /usr/local/jails/base/13.1-RELEASE-template/var /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial/var
# as etcupdate's build_tree does: the tree is reference data, and schg would block trimming it
chflags -R noschg /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial
# etcupdate's build_tree drops etc/*.db, etc/passwd, var/db/services.db, empty files and directories
find /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial/etc -maxdepth 1 -name '*.db' -delete
rm -f /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial/etc/passwd /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial/var/db/services.db
find /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial -type f -size 0 -delete
find /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial -type d -empty -delete
mkdir -p /usr/local/jails/base/13.1-RELEASE-base/usr/share/thinjail
# the release's etcupdate tarball, in its base: every jail on this base reads it at /usr/share/thinjail/etcupdate.txz
tar -cJf /usr/local/jails/base/13.1-RELEASE-base/usr/share/thinjail/etcupdate.txz.part -C /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial .
mv /usr/local/jails/base/13.1-RELEASE-base/usr/share/thinjail/etcupdate.txz.part /usr/local/jails/base/13.1-RELEASE-base/usr/share/thinjail/etcupdate.txz
mkdir -p /usr/local/jails/base/13.1-RELEASE-template/var/db/etcupdate
# every jail starts with /var/db/etcupdate/current: the baseline `thinjail upgrade` merges against
mv /usr/local/jails/base/13.1-RELEASE-template/.etcupdate.thinjail-partial /usr/local/jails/base/13.1-RELEASE-template/var/db/etcupdate/current
# article: echo 'default_router=...' >> ./etc/rc.conf — thinjail sets it in place (like sysrc), so a second run adds no duplicate line
thinjail_rc_edit /usr/local/jails/base/13.1-RELEASE-template/etc/rc.conf set default_router 192.168.1.1
# /etc/localtime: the host's /etc/localtime, copied
# base.txz has no /etc/resolv.conf or /etc/localtime; bsdinstall's jail script and the Handbook copy the host's so pkg can resolve names in a new jail (template.files)
cp -p /etc/localtime /usr/local/jails/base/13.1-RELEASE-template/etc/localtime
# /etc/resolv.conf: the host's /etc/resolv.conf, copied
cp -p /etc/resolv.conf /usr/local/jails/base/13.1-RELEASE-template/etc/resolv.conf
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
# base.txz has no /home, where pw useradd -m puts homes (since 14.0 it no longer links /home to /usr/home itself, and a read-only base stops it anyway): /home -> usr/home, so homes land in the jail's own usr/home
ln -s usr/home /usr/local/jails/base/13.1-RELEASE-base/home
zfs snapshot zroot/jails/base/13.1-RELEASE-base@gold

# --- stage mount: each jail's data from the template's @gold, its mountpoint and its fstab (article step 5)
# article: a full copy, not a clone, so the jail does not depend on the template;
# `send -p` carries the template's thinjail:managed mark to the copy
zfs send -p zroot/jails/base/13.1-RELEASE-template@gold | zfs receive zroot/jails/thinjail0/data
mkdir -p /usr/local/jails/.mountpoints/thinjail0
cat > /usr/local/jails/thinjail0/fstab <<'EOF'
/usr/local/jails/base/13.1-RELEASE-base  /usr/local/jails/.mountpoints/thinjail0  nullfs  ro  0   0
/usr/local/jails/thinjail0/data  /usr/local/jails/.mountpoints/thinjail0/skeleton  nullfs  rw  0   0
EOF

# --- stage rcconf: each jail's own jail.conf file, jail_enable and jail_list in rc.conf, and starting the jails (article step 6)
# the directory of thinjail's jail files (FreeBSD 14+ has /etc/jail.conf.d already)
mkdir -p /etc/jail.conf.d
# article: the settings go at the top of /etc/jail.conf, where they would change the administrator's jails, and the administrator's settings ours;
# thinjail writes each jail in a file of its own, which jail(8) reads alone (`jail -f FILE -c NAME`)
cat > /etc/jail.conf.d/thinjail0.conf <<'EOF'
# jail thinjail0, written by thinjail from its recipe: `thinjail apply` rewrites this file and
# `thinjail destroy thinjail0` removes it; change the recipe, not this file.
# thinjail:managed=zroot/jails
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
    ip4.addr = "192.168.1.70";
    allow.raw_sockets;
}
EOF
# jail_enable was off, so no jail booted: jail_list names thinjail's jails only (the value it replaces is recorded on the line, and put back when thinjail's last jail goes)
thinjail_rc_edit /etc/rc.conf record jail_list thinjail0
# article: jail_enable="YES" starts the jails at boot (the value it replaces is recorded on the line)
thinjail_rc_edit /etc/rc.conf record jail_enable YES
# article: service jail start — that starts every jail in the file; thinjail starts its own
jail -f /etc/jail.conf.d/thinjail0.conf -c thinjail0
