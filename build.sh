#!/usr/bin/env bash
# hashwall build driver. One entry point for a fresh Debian 12 machine (run as root):
#
#   ./build.sh setup   install what is missing (apt packages, Deno 2.9.6, bpffs, npm cache)
#   ./build.sh build   vmlinux.h, BPF objects, UI bundle, the one-file dist/hashwall
#   ./build.sh test    setup + build + fmt/lint/check + the whole test suite; ends "N passed, M failed"
#   ./build.sh run     setup + build + the daemon on the embedded default config (learning mode, UI)
#   ./build.sh bench   setup + build + bench/run_all.sh (report in build/bench/)
#
# Environment: DENORT_BIN (a denort runtime for `deno compile`), HASHWALL_TEST_TIMEOUT (seconds
# for the test suite, default 3600), HASHWALL_FORCE_FALLBACK=1 (skip the `deno compile` attempt).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export PATH="/usr/local/bin:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin:${PATH}"
export DENO_NO_UPDATE_CHECK=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
cd "$ROOT"

DENO_VERSION="2.9.6"
DENO_NPM_PACKAGE="@deno/linux-x64-glibc"
DENO_BIN="/usr/local/bin/deno"

# Everything the build and the tests need on top of a fresh Debian 12 (checked one by one, so a
# machine that has them all never touches apt).
APT_PACKAGES=(
  clang llvm libbpf-dev libbpf1 bpftool libelf-dev gcc make dnsmasq-base
  iproute2 socat ncat iperf3 chromium systemd util-linux procps passwd psmisc
  ca-certificates curl openssl tar gzip coreutils python3 sqlite3 git shellcheck
  ansible-core prometheus btrfs-progs xfsprogs
  apt-utils gnupg dpkg-dev strace
)

# The permissions the shipped app runs with: this one list feeds both `deno compile` and the
# self-extracting launcher. FFI is limited to the two libraries we dlopen (absolute paths, or Deno
# reads them as relative); the network to loopback, where the UI listens. Unix control sockets are
# covered by read/write.
# Measured: Deno 2.9 refuses every read under /proc ("Requires all access to /proc/mounts, run
# again with --allow-all"), even with --allow-read or --allow-read=/proc, and the daemon must read
# /proc (the cgroup2 mount, /proc/PID/exe, uptime, peer groups); the control socket also needs net
# access to its unix: path. So the narrowest set that runs hashwall is --allow-all. This costs no
# real boundary: --allow-ffi already lets native code do anything (see README, Build).
RUNTIME_PERMISSIONS=(
  "--allow-all"
)

# Flags for running the bundled app: never read a deno.json/lock from the user's folder, never
# fetch or resolve anything (npm deps are inlined by the bundler), never prompt, and no V8 code
# cache (it would be executable state outside the verified files).
RUNTIME_RUN_FLAGS=(--no-config --no-lock --cached-only --no-remote --no-npm --no-code-cache
  --no-prompt --quiet)

# Worker modules (src/integrity/<name>.ts): extra entry points of the app bundle; the bundler
# keeps them at build/dist/js/src/integrity/<name>.js (see src/integrity/worker_url.ts).
WORKERS=(hash_worker exec_gate_worker)
# The bundle: build/dist/js/ holds app.js (from main.ts), the workers and the shared chunks
# (code splitting: a subcommand loads only its own modules). Filled in by js_files.
JS_DIR=build/dist/js
JS_FILES=()

# Every file of the bundle, sorted (names carry content hashes, so the list changes per build).
js_files() {
  mapfile -t JS_FILES < <(cd "$JS_DIR" && find . -type f -name '*.js' -printf '%P\n' | LC_ALL=C sort)
}

BPF_CFLAGS=(-O2 -g -target bpf -D__TARGET_ARCH_x86 -I build/vmlinux -I bpf)

step() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf 'build.sh: error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------

is_root() { [ "$(id -u)" = 0 ]; }

apt_missing() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      printf '%s\n' "$p"
    fi
  done
}

setup_apt() {
  command -v dpkg-query >/dev/null || die "dpkg-query not found: this script expects Debian 12"
  local -a missing
  mapfile -t missing < <(apt_missing)
  if [ "${#missing[@]}" = 0 ]; then
    info "apt packages: all present"
    return
  fi
  is_root || die "apt packages missing (${missing[*]}) and not root: run ./build.sh setup as root"
  step "apt-get install ${missing[*]}"
  mkdir -p build
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >build/setup-apt.log 2>&1; then
    tail -n 30 build/setup-apt.log >&2
    die "apt-get failed (full log: build/setup-apt.log)"
  fi
}

# Prints the base64 `sha512-...` integrity as lowercase hex, to compare with sha512sum.
integrity_hex() {
  printf '%s' "${1#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n'
}

deno_version_ok() {
  [ -x "$DENO_BIN" ] && [ "$("$DENO_BIN" --version 2>/dev/null | head -n1 | cut -d' ' -f2)" = "$DENO_VERSION" ]
}

setup_deno() {
  if deno_version_ok; then
    info "deno $DENO_VERSION: present at $DENO_BIN"
    return
  fi
  is_root || die "deno $DENO_VERSION missing at $DENO_BIN and not root: run ./build.sh setup as root"
  step "install deno $DENO_VERSION from npm package $DENO_NPM_PACKAGE@$DENO_VERSION"
  local tmp tgz integrity
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'; trap - RETURN" RETURN
  if command -v npm >/dev/null; then
    integrity="$(npm view "$DENO_NPM_PACKAGE@$DENO_VERSION" dist.integrity)"
    tgz="$tmp/$(cd "$tmp" && npm pack --silent "$DENO_NPM_PACKAGE@$DENO_VERSION" | tail -n1)"
  else
    # No node here: read the version document from the registry and fetch its tarball.
    local meta tarball
    meta="$(curl -fsSL --retry 3 --max-time 60 \
      "https://registry.npmjs.org/$DENO_NPM_PACKAGE/$DENO_VERSION")"
    tarball="$(printf '%s' "$meta" | grep -o '"tarball": *"[^"]*"' | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')"
    integrity="$(printf '%s' "$meta" | grep -o '"integrity": *"[^"]*"' | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')"
    if [ -z "$tarball" ] || [ -z "$integrity" ]; then
      die "registry metadata lacks dist.tarball/integrity"
    fi
    tgz="$tmp/deno.tgz"
    curl -fsSL --retry 3 --max-time 900 -o "$tgz" "$tarball"
  fi
  case "$integrity" in sha512-*) ;; *) die "unexpected integrity format from registry: $integrity" ;; esac
  local want got
  want="$(integrity_hex "$integrity")"
  got="$(sha512sum "$tgz" | cut -d' ' -f1)"
  [ "$want" = "$got" ] || die "deno tarball integrity mismatch (want $want, got $got)"
  info "integrity verified ($integrity)"
  tar -xzf "$tgz" -C "$tmp" package/deno
  install -m 0755 "$tmp/package/deno" "$DENO_BIN"
  deno_version_ok || die "installed $DENO_BIN does not report version $DENO_VERSION"
}

setup_bpffs() {
  if mountpoint -q /sys/fs/bpf; then
    info "bpffs: mounted at /sys/fs/bpf"
    return
  fi
  is_root || die "bpffs is not mounted at /sys/fs/bpf and not root"
  step "mount bpffs at /sys/fs/bpf"
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf
}

setup_npm_cache() {
  mkdir -p build
  if ! "$DENO_BIN" install --frozen >build/setup-deno-install.log 2>&1; then
    cat build/setup-deno-install.log >&2
    die "deno install --frozen failed (is deno.lock up to date with deno.json?)"
  fi
  info "npm deps: cached from deno.lock"
}

cmd_setup() {
  step "setup"
  setup_apt
  setup_deno
  setup_bpffs
  setup_npm_cache
}

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

build_vmlinux() {
  local btf=/sys/kernel/btf/vmlinux id
  [ -r "$btf" ] || die "$btf not readable: the kernel has no BTF"
  mkdir -p build/vmlinux
  # The BTF hash identifies the kernel better than `uname -r` (rebuilds keep the release name).
  id="$(sha256sum "$btf" | cut -d' ' -f1)"
  if [ -s build/vmlinux/vmlinux.h ] && [ "$(cat build/vmlinux/kernel.id 2>/dev/null)" = "$id" ]; then
    info "vmlinux.h: up to date"
    return
  fi
  step "generate build/vmlinux/vmlinux.h from $btf"
  bpftool btf dump file "$btf" format c >build/vmlinux/vmlinux.h.tmp
  mv build/vmlinux/vmlinux.h.tmp build/vmlinux/vmlinux.h
  printf '%s\n' "$id" >build/vmlinux/kernel.id
}

# Compiles one BPF C file when the object is missing or older than its inputs.
compile_bpf() {
  local src="$1" out="$2" dep
  local -a inputs=("$src" build/vmlinux/vmlinux.h bpf/*.h "$(dirname "$src")"/*.h)
  if [ -f "$out" ]; then
    local stale=0
    for dep in "${inputs[@]}"; do
      if [ -e "$dep" ] && [ "$dep" -nt "$out" ]; then stale=1; fi
    done
    if [ "$stale" = 0 ]; then return; fi
  fi
  info "clang $src -> $out"
  clang "${BPF_CFLAGS[@]}" -I "$(dirname "$src")" -c "$src" -o "$out.tmp"
  mv "$out.tmp" "$out"
}

build_bpf() {
  step "compile BPF objects"
  mkdir -p build/bpf build/fixtures
  local src n=0
  for src in bpf/*.bpf.c; do
    [ -e "$src" ] || continue
    compile_bpf "$src" "build/bpf/$(basename "$src" .c).o"
    n=$((n + 1))
  done
  for src in tests/fixtures/bpf/*.bpf.c; do
    [ -e "$src" ] || continue
    compile_bpf "$src" "build/fixtures/$(basename "$src" .c).o"
    n=$((n + 1))
  done
  info "$n BPF source file(s) up to date"
}

build_ui() {
  mkdir -p build/ui
  if [ -f ui/islands/main.tsx ]; then
    step "bundle ui/islands/main.tsx -> build/ui/islands.js"
    "$DENO_BIN" bundle --quiet --platform=browser --minify -o build/ui/islands.js ui/islands/main.tsx
  else
    # A placeholder so server code that embeds build/ui/islands.js compiles before the UI exists.
    info "ui/islands/main.tsx absent: writing placeholder build/ui/islands.js"
    printf '%s\n' '// placeholder: ui/islands/main.tsx does not exist yet' >build/ui/islands.js
  fi
}

# The `--unstable-*` flags deno.json asks for, so the shipped app runs like `deno run` here.
unstable_flags() {
  # shellcheck disable=SC2016 # a JS template literal, not a shell expansion
  "$DENO_BIN" eval --no-config \
    'const c = JSON.parse(Deno.readTextFileSync("deno.json"));
     for (const u of c.unstable ?? []) console.log(`--unstable-${u}`);'
}

# The --v8-flags=... argument hashwall runs with (one source: src/v8_flags.ts).
v8_flags() {
  "$DENO_BIN" eval --no-config 'import { v8FlagsArg } from "./src/v8_flags.ts";
     console.log(v8FlagsArg());'
}

# `deno run` builds its module graph from every import whose specifier is a string literal,
# dynamic ones included: with the bundler's `import("./run-XXXX.js")` per subcommand, every
# command read and parsed all ~4 MB of the bundle (the daemon, the UI, the BPF objects) before its
# first line ran — measured ~60 ms of CPU per `hashwall status`. A computed specifier
# (`import(String("./run-XXXX.js"))`) is resolved when that import runs, against the same module,
# so a command loads only the chunks it imports. Runs before the files are hashed: the launcher
# verifies the rewritten files, as before.
lazy_dynamic_imports() {
  local re='import\("(\./[A-Za-z0-9_./-]+\.js)"\)' f n=0
  for f in "${JS_FILES[@]}"; do
    grep -qE "$re" "$JS_DIR/$f" || continue
    sed -i -E "s#$re#import(String(\"\\1\"))#g" "$JS_DIR/$f"
    n=$((n + 1))
  done
  # Every rewritten target must exist beside its importer (all chunks sit at the bundle's root).
  local t
  while read -r t; do
    [ -f "$JS_DIR/$t" ] || die "bundle: a lazy import names $t, which the bundle lacks"
  done < <(cd "$JS_DIR" && grep -ohE 'import\(String\("\./[^"]+"\)\)' "${JS_FILES[@]}" |
    sed -E 's#.*"\./([^"]+)".*#\1#' | sort -u)
  if (cd "$JS_DIR" && grep -nE 'import\("\.' "${JS_FILES[@]}") | head -n3 | grep .; then
    die "a bundle file still has a string-literal dynamic import (above): deno run would load it eagerly"
  fi
  info "dynamic imports made lazy in $n bundle file(s)"
}

build_app_bundle() {
  step "bundle main.ts + workers -> $JS_DIR/ (code splitting, npm deps inlined)"
  rm -rf "$JS_DIR" build/dist/app.js
  mkdir -p "$JS_DIR"
  local w
  local -a entries=(main.ts)
  for w in "${WORKERS[@]}"; do entries+=("src/integrity/$w.ts"); done
  # One bundle with three entry points: the workers' modules land beside the chunks that start
  # them (src/integrity/worker_url.ts), and `hashwall status` evaluates only the chunks it needs.
  "$DENO_BIN" bundle --quiet --platform=deno --code-splitting --outdir "$JS_DIR" "${entries[@]}"
  mv "$JS_DIR/main.js" "$JS_DIR/app.js"
  for w in app.js "${WORKERS[@]/#/src/integrity/}"; do
    [ -f "$JS_DIR/${w%.js}.js" ] || die "bundle did not produce $JS_DIR/${w%.js}.js"
  done
  js_files
  lazy_dynamic_imports
  # A bare npm:/jsr:/https: import left in the bundle would need a DENO_DIR cache at run time.
  # (Comment lines are skipped: npm packages keep JSDoc examples that mention such imports.)
  if (cd "$JS_DIR" && grep -nE '(from|import\(|^import) *"(npm|jsr|https?):' "${JS_FILES[@]}") |
    grep -vE '^[^:]+:[0-9]+: *(\*|//)' | head -n5 | grep .; then
    die "a bundle in $JS_DIR still imports remote/npm modules (see above); they must be inlined"
  fi
  # Prove it runs from another folder with an empty Deno cache.
  local empty out
  empty="$(mktemp -d)"
  out="$(cd / && DENO_DIR="$empty" "$DENO_BIN" run "${RUNTIME_RUN_FLAGS[@]}" \
    "$ROOT/$JS_DIR/app.js" --version 2>&1)" || {
    rm -rf "$empty"
    die "bundled app fails to run from / with an empty DENO_DIR: $out"
  }
  rm -rf "$empty"
  info "bundle runs standalone: $out (${#JS_FILES[@]} files)"
}

# Tries `deno compile`; succeeds only when the result really is hashwall (with the full deno
# binary as DENORT_BIN it only opens a REPL, so a successful compile is not proof enough).
try_deno_compile() {
  if [ "${HASHWALL_FORCE_FALLBACK:-0}" = 1 ]; then
    info "deno compile skipped (HASHWALL_FORCE_FALLBACK=1)"
    return 1
  fi
  local out=build/dist/hashwall.compiled log=build/dist/compile.log
  local -a unstable
  mapfile -t unstable < <(unstable_flags)
  local -a includes=(--include "$JS_DIR")
  rm -f "$out"
  if ! NO_COLOR=1 timeout 60 "$DENO_BIN" compile --quiet --no-config --no-lock --no-npm --no-remote \
    --no-code-cache "${unstable[@]}" "$(v8_flags)" "${RUNTIME_PERMISSIONS[@]}" "${includes[@]}" \
    -o "$out" "$JS_DIR/app.js" \
    </dev/null >"$log" 2>&1; then
    info "deno compile unavailable (could not get the denort runtime?): $(sed '/Stack backtrace/q' "$log" | grep -E '^ +[0-9]+: ' | tail -n1 | sed 's/^ *[0-9]*: //')"
    return 1
  fi
  local v
  v="$(cd / && timeout 20 "$ROOT/$out" --version </dev/null 2>&1)" || true
  case "$v" in
    hashwall\ *) ;;
    *)
      info "deno compile produced a binary that is not hashwall (denort missing?): $(printf '%s' "$v" | head -n1 | cut -c1-80)"
      rm -f "$out"
      return 1
      ;;
  esac
  mv "$out" dist/hashwall
  return 0
}

# The launcher: POSIX sh (packaging/launcher.sh.in, linted by shellcheck in `./build.sh test`),
# appended with a gzip'd tar of {deno, JS_FILES}. @NAMES@ are filled in by build_fallback. The
# payload offset is zero-padded to a fixed width so filling it in does not change the header's
# length.
LAUNCHER_TEMPLATE="packaging/launcher.sh.in"
launcher_template() {
  cat "$LAUNCHER_TEMPLATE"
}

build_fallback() {
  local stage=build/dist/stage payload=build/dist/payload.tar.gz
  local deno_sha js_sha payload_sha stamp f
  rm -rf "$stage"
  mkdir -p "$stage"
  cp "$DENO_BIN" "$stage/deno"
  js_files
  for f in "${JS_FILES[@]}"; do
    mkdir -p "$stage/$(dirname "$f")"
    cp "$JS_DIR/$f" "$stage/$f"
  done
  deno_sha="$(sha256sum "$stage/deno" | cut -c1-64)"
  js_sha="$(cd "$stage" && sha256sum "${JS_FILES[@]}" | cut -c1-64 | tr '\n' ' ')"
  js_sha="${js_sha% }"
  stamp="fallback $deno_sha $js_sha $(cat build.sh "$LAUNCHER_TEMPLATE" | sha256sum | cut -c1-64) $(v8_flags)"
  if [ -x dist/hashwall ] && [ "$(cat build/dist/stamp 2>/dev/null)" = "$stamp" ]; then
    info "dist/hashwall: up to date (self-extracting)"
    rm -rf "$stage"
    return
  fi
  step "pack self-extracting dist/hashwall (deno runtime + app bundle)"
  # Fixed names, owners and times, and gzip -n: the same inputs give the same payload hash.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - deno "${JS_FILES[@]}" |
    gzip -n -6 >"$payload"
  payload_sha="$(sha256sum "$payload" | cut -c1-64)"

  local version unstable perms runflags header len offset
  version="$(cd / && "$DENO_BIN" run "${RUNTIME_RUN_FLAGS[@]}" "$ROOT/$JS_DIR/app.js" --version | cut -d' ' -f2)"
  unstable="$(unstable_flags | tr '\n' ' ')"
  perms="$(printf "'%s' " "${RUNTIME_PERMISSIONS[@]}")"
  runflags="${RUNTIME_RUN_FLAGS[*]} ${unstable}$(v8_flags)"
  header="$(launcher_template)"
  header="${header//@VERSION@/$version}"
  header="${header//@PAYLOAD_SHA@/$payload_sha}"
  header="${header//@DENO_SHA@/$deno_sha}"
  header="${header//@JS_FILES@/${JS_FILES[*]}}"
  header="${header//@JS_SHA@/$js_sha}"
  header="${header//@RUN_FLAGS@/${runflags% }}"
  header="${header//@PERMISSIONS@/${perms% }}"
  header="${header}"$'\n'
  len="$(printf '%s' "${header//@PAYLOAD_OFFSET@/0000000000}" | wc -c)"
  offset="$(printf '%010d' $((len + 1)))"
  header="${header//@PAYLOAD_OFFSET@/$offset}"

  mkdir -p dist
  { printf '%s' "$header"; cat "$payload"; } >dist/hashwall.tmp
  chmod 0755 dist/hashwall.tmp
  mv dist/hashwall.tmp dist/hashwall
  printf '%s\n' "$stamp" >build/dist/stamp
  rm -rf "$stage" "$payload"
}

check_dist() {
  local v h
  v="$(cd / && "$ROOT/dist/hashwall" --version </dev/null)" || die "dist/hashwall --version failed"
  h="$(cd / && "$ROOT/dist/hashwall" --help </dev/null)" || die "dist/hashwall --help failed"
  case "$h" in *Usage:*) ;; *) die "dist/hashwall --help printed no usage" ;; esac
  info "dist/hashwall --version (from /): $v"
}

cmd_build() {
  deno_version_ok || die "deno $DENO_VERSION not found at $DENO_BIN: run ./build.sh setup first"
  step "build"
  build_vmlinux
  build_bpf
  build_ui
  build_app_bundle
  mkdir -p dist
  local kind
  if try_deno_compile; then
    kind="deno compile (single native executable)"
    rm -f build/dist/stamp
  else
    build_fallback
    kind="self-extracting fallback (POSIX sh header + tar.gz of deno runtime and app bundle)"
  fi
  check_dist
  printf '%s\n' "$kind" >build/dist/kind
  step "made dist/hashwall: $kind, $(du -h dist/hashwall | cut -f1)"
}

# ---------------------------------------------------------------------------------------------
# test
# ---------------------------------------------------------------------------------------------

RESULT_PRINTED=0

# CI reads the last line: it must be "N passed, M failed" even when an early step breaks.
print_result() {
  printf '%s passed, %s failed\n' "$1" "$2"
  RESULT_PRINTED=1
}

on_test_exit() {
  local rc=$?
  if [ "$RESULT_PRINTED" = 0 ]; then
    printf 'build.sh: test run stopped early (exit %s)\n' "$rc"
    print_result 0 1
  fi
  exit "$rc"
}

# Files for deno check: main.ts and every .ts/.tsx under tests/ and bench/.
check_targets() {
  printf '%s\n' main.ts
  find tests bench -type f \( -name '*.ts' -o -name '*.tsx' \) 2>/dev/null | sort
}

run_static_checks() {
  local failed=()
  step "deno fmt --check"
  "$DENO_BIN" fmt --check || failed+=(fmt)
  step "deno lint"
  "$DENO_BIN" lint || failed+=(lint)
  step "shellcheck build.sh .ci/run bench/run_all.sh packaging/launcher.sh.in"
  shellcheck build.sh .ci/run bench/run_all.sh && shellcheck -s sh packaging/launcher.sh.in ||
    failed+=(shellcheck)
  step "deno check main.ts tests/ bench/"
  local -a targets
  mapfile -t targets < <(check_targets)
  "$DENO_BIN" check "${targets[@]}" || failed+=(check)
  STATIC_FAILED=("${failed[@]+"${failed[@]}"}")
}

# Reads deno test's summary ("ok | 3 passed (2 steps) | 0 failed | ...") from the log.
parse_summary() {
  grep -E '^(ok|FAILED) \| [0-9]+ passed' "$1" | tail -n1 |
    sed -E 's/^[A-Z a-z]+\| ([0-9]+) passed[^|]*\| ([0-9]+) failed.*/\1 \2/'
}

cmd_test_inner() {
  trap on_test_exit EXIT
  # Plain text for the log and for CI (Deno colours piped output otherwise).
  export NO_COLOR=1
  cmd_setup
  cmd_build
  STATIC_FAILED=()
  run_static_checks

  step "deno test -A tests/ (serial)"
  local log=build/test-suite.log rc=0
  timeout -k 30 "${HASHWALL_TEST_TIMEOUT:-3600}" \
    "$DENO_BIN" test -A --permit-no-files tests/ </dev/null 2>&1 | tee "$log" || rc=$?
  local passed failed summary
  summary="$(parse_summary "$log")"
  if [ -n "$summary" ]; then
    passed="${summary% *}"
    failed="${summary#* }"
  else
    passed=0
    failed=0
  fi
  # A crash or timeout without a summary, or a non-zero exit with "0 failed", is still a failure.
  if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
    printf 'build.sh: deno test exited %s without reporting a failed test\n' "$rc"
    failed=1
  fi
  local nstatic=${#STATIC_FAILED[@]}
  if [ "$nstatic" != 0 ]; then
    printf 'build.sh: static checks failed: %s (each counted as 1 failed)\n' "${STATIC_FAILED[*]}"
    failed=$((failed + nstatic))
  fi
  print_result "$passed" "$failed"
  trap - EXIT
  [ "$failed" = 0 ]
}

cmd_test() {
  mkdir -p build
  # A fresh process (not a subshell in a `||` list, where bash ignores set -e) so a failing step
  # still stops the run; the whole run also goes to build/test.log, and pipefail keeps its code.
  bash "$ROOT/build.sh" __test-inner 2>&1 | tee build/test.log
}

# ---------------------------------------------------------------------------------------------
# run, bench
# ---------------------------------------------------------------------------------------------

cmd_run() {
  cmd_setup
  cmd_build
  step "dist/hashwall run --default-config --state /var/lib/hashwall"
  exec "$ROOT/dist/hashwall" run --default-config --state /var/lib/hashwall
}

cmd_bench() {
  cmd_setup
  cmd_build
  step "bench/run_all.sh"
  exec bash "$ROOT/bench/run_all.sh"
}

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    setup) cmd_setup ;;
    build) cmd_build ;;
    test) cmd_test ;;
    __test-inner) cmd_test_inner ;;
    run) cmd_run ;;
    bench) cmd_bench ;;
    -h | --help | help) usage ;;
    "")
      usage >&2
      exit 2
      ;;
    *)
      printf 'build.sh: unknown command "%s"\n\n' "$cmd" >&2
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
