#!/bin/sh
# make install into a temporary DESTDIR: programs, man pages that render,
# and bash, zsh and fish completions in their conventional places.
#
# Environment: L32_BIN (built programs; its parent is the build directory).
. "$(dirname "$0")/../lib/e2e.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$L32_BIN/.." && pwd)

scratch install

if make -s -C "$top" install B="$build" DESTDIR="$T" PREFIX=/usr >"$T/log" 2>&1; then
	ok "make install DESTDIR=... PREFIX=/usr"
else
	bad "make install" "$(tail -n 5 "$T/log")"
fi
for src in "$top"/bin/l32-*.c; do
	p=$(basename "$src" .c)
	[ -x "$T/usr/bin/$p" ] && ok "$p installed" || bad "$p installed"
	"$T/usr/bin/$p" --version >/dev/null 2>&1 && ok "$p --version runs" || bad "$p --version runs"
	page=$T/usr/share/man/man1/$p.1
	if [ -f "$page" ] && mandoc -Tmarkdown "$page" 2>/dev/null | grep -q "SYNOPSIS"; then
		ok "$p.1 installed and renders"
	else
		bad "$p.1 installed and renders"
	fi
	if command -v man >/dev/null 2>&1; then
		MANPAGER=cat man -l "$page" 2>/dev/null | col -b | grep -q "$p" && ok "man -l $p.1" || bad "man -l $p.1"
	fi
	[ -f "$T/usr/share/bash-completion/completions/$p" ] && ok "$p bash completion" || bad "$p bash completion"
	[ -f "$T/usr/share/fish/vendor_completions.d/$p.fish" ] && ok "$p fish completion" || bad "$p fish completion"
	grep -q "$p" "$T/usr/share/zsh/site-functions/_l32" 2>/dev/null && ok "$p zsh completion" || bad "$p zsh completion"
done
if [ -f "$T/usr/share/man/man7/l32.7" ] && mandoc -Tmarkdown "$T/usr/share/man/man7/l32.7" | grep -q "DESCRIPTION"; then
	ok "l32.7 installed and renders"
else
	bad "l32.7 installed and renders"
fi

finish
