"""The README's quick start on a truly fresh machine (issue 18 item 7): a container from the plain Debian bookworm
base (mmdebstrap --variant=minbase, the base `make images` makes: no -dev package, no compiler headers, no curl), with
what a machine of this kind has besides (git, make, the Swift toolchain's own prerequisites) and the host's Swift
toolchain (/opt/swift), package mirror (/opt/swift-packages) and git configuration (which maps github.com to the
mirror) mounted read-only. In a fresh clone of this repository:

1. `scripts/system-packages.sh build`, the first thing `make run` does, installs the Debian packages the build needs
   (it must find them missing); this step has the network (the host's), as a newcomer's machine does;
2. `make run`, without any network but its own loopback: the build (incremental over a copy of the host's debug build
   at the same path, see below), the dev PKI, the four services, healthy; then the curl the README prints returns an
   access token, and `make stop` stops every service and `make run` itself.

Build cost: a clean debug build takes 12+ minutes on a CI machine, so the container starts from a copy of the
host's `.build` (what `make test` built from the same commit) at the same path, with the clone's files given the host
files' times where their content is the same, the host's Package.resolved, and the host's Linux API headers: the Swift
modules are not compiled again. Every C source is (SwiftPM's build system sees copied files as changed): the
dependencies' (BoringSSL, zlib, llhttp) and the project's shims over OpenSSL and libnghttp2, against the headers the
container just installed, and every binary links again against the container's libraries, so what a missing -dev
package breaks is built for real.

Bounded in time, and cleans up (container, images, the dockerd it started, the clone) also when a check fails.
Skipped only where no container engine can run."""
import glob
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from test_containers import Engine

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The build in the container is about 6 CPU-minutes (the C sources compile again, see above): about 3.5 minutes on an
# idle 2-core CI machine, the whole test about 5. On a development machine shared with other builds (load 8 on 2
# cores) make run took 17.5 minutes and the test 19: the budget is a guard against a hang, not the expected time.
BUDGET = 25 * 60
DEADLINE = time.monotonic() + BUDGET
# What a machine of this kind has besides Debian's minimal system: git and make (the quick start's first commands
# are `git clone` and `make run`) and the Swift toolchain's own prerequisites (libc headers and C runtime objects,
# the C++ library headers Foundation's module maps use, the binutils gold linker, the libraries swift-build and lld
# load). Not the project's: libssl-dev, libnghttp2-dev, zlib1g-dev, libsqlite3-dev, openssl, curl are make run's job.
MACHINE_PACKAGES = ["git", "make", "ca-certificates", "binutils", "libc6-dev", "libgcc-12-dev", "libstdc++-12-dev",
                    "libcurl4", "libxml2", "libncurses6", "libsqlite3-0", "libz3-4", "tzdata"]
PROJECT_PACKAGES = ["libssl-dev", "libnghttp2-dev", "zlib1g-dev", "libsqlite3-dev", "curl"]
BASE_IMAGE = "certauth-quickstart-base:bookworm"
MACHINE_IMAGE = "certauth-quickstart-machine:bookworm"
PACKAGES_IMAGE = "certauth-quickstart-packages:bookworm"


def step(message):
    print(f"[quickstart {time.strftime('%H:%M:%S')}] {message}", flush=True)


def remaining():
    left = DEADLINE - time.monotonic()
    if left <= 0:
        pytest.fail("the quick-start test ran out of its time budget")
    return left


def run(*args, env=None, check=True, timeout=None, input=None):
    result = subprocess.run(list(map(str, args)), capture_output=True, text=True, env=env, input=input, cwd=ROOT,
                            timeout=min(timeout or 300, remaining()))
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def engine():
    if os.geteuid() != 0:
        pytest.skip("no container engine can run here: dockerd needs root (CI runs as root)")
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("no container engine can run here: dockerd is not installed (apt-get install docker.io; .ci/run does)")
    if not pathlib.Path("/opt/swift/usr/bin/swift").exists():
        pytest.skip("the Swift toolchain is not at /opt/swift, so it cannot be mounted into the fresh machine")
    global DEADLINE
    DEADLINE = time.monotonic() + BUDGET
    engine = Engine()
    try:
        step("starting dockerd (own socket and data root; the containers use the host's network or none)")
        if not engine.start():
            tail = engine.log_tail()
            engine.stop()
            pytest.skip(f"no container engine can run here: dockerd did not start:\n{tail}")
        yield engine
    finally:
        step("stopping dockerd")
        engine.stop()


def base_tarball(work):
    """The plain bookworm base: the one `make images` made (.build/images), else one made here with mmdebstrap."""
    made = sorted(glob.glob(str(ROOT / ".build/images/certauth-base-bookworm*.tar")), key=os.path.getmtime)
    if made:
        return made[-1], "the mmdebstrap base of make images"
    if shutil.which("mmdebstrap") is None:
        pytest.fail("no bookworm base in .build/images and mmdebstrap is not installed: apt-get install mmdebstrap")
    tarball = work / "base.tar"
    run("mmdebstrap", "--quiet", "--variant=minbase", "--include=ca-certificates", "bookworm", tarball, timeout=300)
    return str(tarball), "mmdebstrap --variant=minbase bookworm"


def fresh_clone(work):
    """`git clone` of this repository, with the host checkout's file times where the content is the same (so that
    SwiftPM, given the host's build, rebuilds only what differs)."""
    clone = work / "clone"
    run("git", "clone", "-q", "--no-hardlinks", ROOT, clone)
    files = run("git", "-C", clone, "ls-files", "-z").stdout.split("\0")
    same = 0
    for name in filter(None, files):
        theirs, ours = ROOT / name, clone / name
        if theirs.is_file() and not ours.is_symlink() and theirs.read_bytes() == ours.read_bytes():
            stat = theirs.stat()
            os.utime(ours, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            same += 1
    # The dependency versions the host's build resolved (what a resolution now gives a fresh clone too).
    if (ROOT / "Package.resolved").exists():
        shutil.copy2(ROOT / "Package.resolved", clone / "Package.resolved")
    return clone, same, len(list(filter(None, files)))


def kernel_header_mounts():
    """The host's Linux API headers (linux-libc-dev, a prerequisite of the toolchain, not of the project), over the
    container's: the mirror may hold a newer linux-libc-dev than the host's, and headers that every C and Swift module
    sees through Glibc, changed, would make the host's build cache worthless (a clean build: 12+ minutes)."""
    listed = subprocess.run(["dpkg", "-L", "linux-libc-dev"], capture_output=True, text=True).stdout.split()
    tops = set()
    for path in listed:
        parts = pathlib.PurePosixPath(path).parts
        if parts[:3] == ("/", "usr", "include") and len(parts) > 4:
            top = pathlib.PurePosixPath(*parts[:4])
            if top.name == "x86_64-linux-gnu":
                top = pathlib.PurePosixPath(*parts[:5])
            tops.add(str(top))
    return [arg for top in sorted(tops) if os.path.isdir(top) for arg in ("-v", f"{top}:{top}:ro")]


# Runs inside the fresh machine, with no network: the build cache, make run, the README's curl, make stop.
QUICKSTART = r"""
set -u
export PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
say() { echo "STEP $*"; }
cd "$ROOT"
if [ -d /host-build/x86_64-unknown-linux-gnu/debug ]; then
  started=$SECONDS
  mkdir -p .build/x86_64-unknown-linux-gnu
  for item in checkouts repositories artifacts workspace-state.json; do
    [ -e "/host-build/$item" ] && cp -a "/host-build/$item" .build/
  done
  cp -a /host-build/x86_64-unknown-linux-gnu/debug .build/x86_64-unknown-linux-gnu/
  ln -sfn x86_64-unknown-linux-gnu/debug .build/debug
  # The C shims compile against the headers this machine just got; every binary links again.
  find Shared -path 'Shared/C*' \( -name '*.c' -o -name '*.h' \) -exec touch {} +
  say "build cache: the host's debug build copied in $((SECONDS - started)) s; C shims touched"
fi
started=$SECONDS
# (nice: the tests' builds leave the CPU to whatever else runs on the machine; make run itself is unchanged.)
nice -n 10 make run >/tmp/make-run.out 2>&1 &
run_pid=$!
until grep -q "CertAuth is running" /tmp/make-run.out; do
  if ! kill -0 $run_pid 2>/dev/null; then
    say "FAIL make run exited before the services were up:"; tail -n 60 /tmp/make-run.out; exit 1
  fi
  if [ $((SECONDS - started)) -gt $RUN_BUDGET ]; then
    say "FAIL make run did not print 'CertAuth is running' within $RUN_BUDGET s:"; tail -n 60 /tmp/make-run.out; exit 1
  fi
  sleep 1
done
say "make run: built and started the four services, all healthy, in $((SECONDS - started)) s"
grep -E "^(Compiling|Building|Build complete|system-packages)" /tmp/make-run.out | tail -n 3 | sed 's/^/  make run: /'
# The curl make run prints under "Get an access token" (two lines joined at the backslash), run as printed.
command=$(awk '/Get an access token/ {found=1; next} found && /curl/ {line=$0; getline more; print line more; exit}' /tmp/make-run.out \
  | sed 's/\\ *//')
[ -n "$command" ] || { say "FAIL make run printed no token curl command"; cat /tmp/make-run.out | head -n 60; exit 1; }
say "the printed curl:$command"
answer=$(bash -c "$command -sS" 2>&1)
case "$answer" in
  *'"access_token":"ey'*) say "it returned an access token (${#answer} bytes of JSON: $(echo "$answer" | grep -o '"token_type":"[^"]*"'))" ;;
  *) say "FAIL the printed curl returned no access token: ${answer:0:500}"; make stop; exit 1 ;;
esac
make stop >/tmp/make-stop.out 2>&1
for _ in $(seq 1 100); do kill -0 $run_pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $run_pid 2>/dev/null; then say "FAIL make run still runs after make stop"; exit 1; fi
left=$(for p in /proc/[0-9]*; do tr '\0' ' ' <"$p/cmdline" 2>/dev/null; echo; done \
  | grep -E "/(entra-emulator|token-issuer|roles|authn)( |$)|tail -n \+1 -F" | grep -v grep || true)
if [ -n "$left" ]; then say "FAIL processes left after make stop: $left"; exit 1; fi
if curl -s -o /dev/null --max-time 2 http://127.0.0.1:9080/actuator/health; then say "FAIL authn still answers"; exit 1; fi
say "make stop: $(tail -n 1 /tmp/make-stop.out); make run has exited, no service process is left, nothing answers"
say "OK"
"""


def test_quick_start_on_a_fresh_machine(engine):
    env = {**os.environ, "DOCKER_HOST": f"unix://{engine.socket}"}
    work = pathlib.Path(tempfile.mkdtemp(prefix="certauth-quickstart-"))
    container = f"certauth-quickstart-{os.getpid()}"
    started = time.monotonic()
    try:
        tarball, origin = base_tarball(work)
        run("docker", "import", tarball, BASE_IMAGE, env=env, timeout=120)
        step(f"base image from {origin}: {pathlib.Path(tarball).name}")
        present = run("docker", "run", "--rm", "--network", "none", BASE_IMAGE, "sh", "-c",
                      "dpkg-query -W -f='${Package} ${Status}\\n' " + " ".join(PROJECT_PACKAGES) + " 2>/dev/null"
                      " | grep 'install ok installed' || true; ls /usr/include 2>/dev/null | head -n 3",
                      env=env, timeout=60).stdout.split()
        assert present == [], f"the base is not plain: {present}"
        step(f"the base has none of {', '.join(PROJECT_PACKAGES)} and no /usr/include")

        clone, same, total = fresh_clone(work)
        step(f"git clone of {ROOT.name} ({total} files; {same} with the host checkout's file times, same content)")

        step(f"the machine as it comes: apt-get install {' '.join(MACHINE_PACKAGES)} (host network)")
        run("docker", "run", "--name", container, "--network", "host", BASE_IMAGE, "sh", "-c",
            "export DEBIAN_FRONTEND=noninteractive && apt-get update -qq && "
            "apt-get install -y -qq --no-install-recommends " + " ".join(MACHINE_PACKAGES) + " >/dev/null",
            env=env, timeout=300)
        run("docker", "commit", container, MACHINE_IMAGE, env=env, timeout=120)
        run("docker", "rm", container, env=env)

        mounts = ["-v", "/opt/swift:/opt/swift:ro", "-v", "/opt/swift-packages:/opt/swift-packages:ro",
                  "-v", f"{clone}:{ROOT}"]
        for config in ("/etc/gitconfig", "/etc/gitignore"):
            if os.path.exists(config):
                mounts += ["-v", f"{config}:{config}:ro"]
        step("make run's first step, scripts/system-packages.sh build (host network, for apt)")
        installed = run("docker", "run", "--name", container, "--network", "host", *mounts, "-w", ROOT, MACHINE_IMAGE,
                        "./scripts/system-packages.sh", "build", env=env, timeout=300)
        first = installed.stdout.splitlines()[0] if installed.stdout else ""
        missing = set(first.removeprefix("system-packages: installing ").split())
        assert first.startswith("system-packages: installing") and set(PROJECT_PACKAGES) <= missing, installed.stdout[-2000:]
        step(f"  {first}")
        run("docker", "commit", container, PACKAGES_IMAGE, env=env, timeout=120)
        run("docker", "rm", container, env=env)

        build_cache = ROOT / ".build"
        if (build_cache / "x86_64-unknown-linux-gnu/debug").is_dir():
            mounts += ["-v", f"{build_cache}:/host-build:ro", *kernel_header_mounts()]
        step("make run, the README's curl and make stop, with no network but the container's loopback")
        result = subprocess.run(
            ["docker", "run", "--rm", "--name", container, "--network", "none", *mounts, "-w", str(ROOT),
             "-e", f"ROOT={ROOT}", "-e", f"RUN_BUDGET={int(remaining()) - 30}", PACKAGES_IMAGE, "bash", "-c", QUICKSTART],
            capture_output=True, text=True, env=env, timeout=remaining())
        for line in result.stdout.splitlines():
            if line.startswith("STEP ") or line.startswith("  make run:"):
                step("  " + line.removeprefix("STEP "))
        assert result.returncode == 0 and "STEP OK" in result.stdout, \
            f"exit {result.returncode}:\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}"
        step(f"done in {time.monotonic() - started:.0f} s")
    finally:
        subprocess.run(["docker", "rm", "-f", container], env=env, capture_output=True, timeout=60)
        for image in (PACKAGES_IMAGE, MACHINE_IMAGE, BASE_IMAGE):
            subprocess.run(["docker", "rmi", "-f", image], env=env, capture_output=True, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
