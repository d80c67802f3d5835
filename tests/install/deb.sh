#!/bin/sh
# deb.sh BUILD WORK — `cpack -G DEB` from the build folder, then the package read back without
# installing it (this machine is shared; README "Installing" shows apt-get install):
#   - its control file: Package, Version, and a Depends that names the package of every shared
#     library the packaged hsicc and hsi-fetch load, the package of every library `hsicc build`
#     links trainers with (compiler/relocatable/hsicc_config.h), and a C compiler; no GDAL
#     package in Depends, and a Recommends naming the package of the libgdal the runtime loads;
#   - its files: programs, runtime, headers, CMake package, pkg-config file, netdefs, man pages,
#     documentation; no source or build path in them;
#   - the packaged hsicc, extracted elsewhere, runs from there.
set -eu
build=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/hsicc_*.deb)
dpkg-deb -I "$deb" >"$work/info"
dpkg-deb -c "$deb" >"$work/contents"
cat "$work/info"
field() { sed -n "s/^ $1: //p" "$work/info"; }
[ "$(field Package)" = hsicc ] || { echo "FAIL: Package is not hsicc" >&2; exit 1; }
version=$(sed -n 's/^project(hsicc VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
[ "$(field Version)" = "$version" ] || { echo "FAIL: Version $(field Version), not $version" >&2; exit 1; }
depends=$(field Depends)
[ -n "$depends" ] || { echo "FAIL: no Depends" >&2; exit 1; }
fail=0
needs() {   # $1: a package Depends must name (an alternative counts), $2: why
  if ! echo ", $depends," | grep -Eq "[,|] *$1( \([^)]*\))? *[,|]"; then
    echo "FAIL: Depends lacks $1 ($2)" >&2; fail=1
  fi
}
owner() {   # the Debian package of a file (/lib and /usr/lib are one on a merged-/usr system)
  dpkg -S "$1" 2>/dev/null || dpkg -S "/usr$1" 2>/dev/null || dpkg -S "${1#/usr}" 2>/dev/null \
    || true
}
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
for exe in hsicc hsi-fetch; do   # the libraries each program loads directly (NEEDED)
  ldd "$work/x/usr/bin/$exe" >"$work/ldd"
  for name in $(objdump -p "$work/x/usr/bin/$exe" | sed -n 's/^ *NEEDED *//p'); do
    lib=$(sed -n "s/^[[:space:]]*$name => \(\/[^ ]*\) .*/\1/p" "$work/ldd")
    [ -n "$lib" ] || { echo "FAIL: $exe needs $name, which ldd does not resolve" >&2; fail=1; continue; }
    pkg=$(owner "$lib" | head -1 | cut -d: -f1)
    [ -n "$pkg" ] && needs "$pkg" "$exe loads $lib"
  done
done
# what the trainers link: each -lNAME / absolute library of hsicc's link flags, as a .so
link=$(sed -n 's/^#define HSICC_RUNTIME_LINK "\(.*\)"$/\1/p' "$build/compiler/relocatable/hsicc_config.h" | tr ';' ' ')
ldirs=""
for f in $link; do
  case $f in
    -L*) ldirs="$ldirs ${f#-L}"; continue ;;
    -l*) so=""
         for d in $ldirs; do [ -e "$d/lib${f#-l}.so" ] && { so=$d/lib${f#-l}.so; break; }; done
         [ -n "$so" ] || so=$(cc -print-file-name="lib${f#-l}.so")
         # glibc's libpthread is an archive only
         case $so in /*) ;; *) so=$(cc -print-file-name="lib${f#-l}.a") ;; esac ;;
    /*) so=$f ;;
    *) continue ;;
  esac
  so=$(realpath "$(dirname "$so")")/$(basename "$so")   # the .so link itself: the -dev package's
  pkg=$(owner "$so" | head -1 | cut -d: -f1)
  [ -n "$pkg" ] || { echo "FAIL: no package owns $so ($f)" >&2; fail=1; continue; }
  needs "$pkg" "hsicc build links trainers with $f"
done
needs gcc "hsicc build runs cc"
# GDAL: loaded by libhsirt at run time (GIS outputs, georeferences) by the SONAME compiled into
# it, never linked: Recommends names the package of that library, Depends no GDAL package
recommends=$(field Recommends)
soname=$(strings "$build/runtime/libhsirt.a" | grep -m 1 '^libgdal[.]so' || true)
[ -n "$soname" ] || { echo "FAIL: no GDAL SONAME in libhsirt.a" >&2; fail=1; }
gdal=$(ldconfig -p | sed -n "s/^[[:space:]]*$soname (.*) => \(.*\)$/\1/p" | head -1)
gpkg=$(owner "$(realpath "${gdal:-/nonexistent}")" | head -1 | cut -d: -f1)
if [ -z "$gpkg" ]; then
  echo "FAIL: no package owns $soname (${gdal:-not found by ldconfig})" >&2; fail=1
elif ! echo ", $recommends," | grep -Eq "[,|] *$gpkg( \([^)]*\))? *[,|]"; then
  echo "FAIL: Recommends ($recommends) lacks $gpkg (trainers load $soname)" >&2; fail=1
fi
if echo "$depends" | grep -q gdal; then
  echo "FAIL: Depends names GDAL, which nothing links: $depends" >&2; fail=1
fi
[ $fail -eq 0 ] || exit 1
for f in usr/bin/hsicc usr/bin/hsi-fetch usr/lib/libhsirt.a usr/include/hsicc/hsi.h \
         usr/include/hsicc/hsi_kernels.h usr/lib/cmake/hsicc/hsiccConfig.cmake \
         usr/lib/cmake/hsicc/hsiccTargets.cmake usr/lib/cmake/hsicc/hsicc.cmake \
         usr/lib/pkgconfig/hsicc.pc usr/share/hsicc/runtime/trainer_main.c \
         usr/share/hsicc/netdefs/ssrn.hsn usr/share/hsicc/netdefs/contextual.hsn \
         usr/share/hsicc/examples/ssrn-salinasA.yaml usr/share/man/man1/hsicc.1 \
         usr/share/man/man1/hsi-fetch.1 usr/share/man/man5/hsicc-netdef.5 \
         usr/share/man/man5/hsicc-experiment.5 usr/share/doc/hsicc/README.md \
         usr/share/doc/hsicc/compiler/LANGUAGE.md; do
  grep -q " \./$f\$" "$work/contents" || { echo "FAIL: $f is not in the package" >&2; exit 1; }
done
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${HSICC_SANITIZED:-}" ] && grep -rlF -e "$src" -e "$(cd "$build" && pwd)" "$work/x"; then
  echo "FAIL: the packaged files above name the source or build folder" >&2; exit 1
fi
"$work/x/usr/bin/hsicc" --version
"$work/x/usr/bin/hsicc" build "$work/x/usr/share/hsicc/examples/ssrn-salinasA.yaml" \
  -o "$work/ssrn" --emit-only >/dev/null
echo "deb: ok ($(basename "$deb"), $(wc -l <"$work/contents") entries)"
