/**
 * A small C helper for the kernel benchmarks, compiled on first use into a temp folder:
 *
 *   benchtool listen NPORTS                 TCP listeners on NPORTS free ports of 127.0.0.1 (printed
 *                                           on the first stdout line); accept and close until killed
 *   benchtool send COUNT RATE ADDR PORT     COUNT UDP sendto() on ONE socket, paced at RATE/s
 *                                           (0 = as fast as possible); prints "sent=N ns=T"
 *   benchtool time PROG ARGS...             runs PROG as a child, then prints
 *                                           "cpu_ns=C wall_ns=W" (C = its user + system time)
 *
 * Why C: a Deno listener or sender costs more per call than the hook being measured and would
 * hide it. Why the listener closes with a reset (SO_LINGER 0): a client that closes first keeps
 * its port in TIME_WAIT for 60 s, unusable towards the same destination for 1 s, and loops of
 * thousands of connects then stall in the kernel's ephemeral port search (runs varied 4x); the
 * reset ends the client's socket without TIME_WAIT. Several listening ports spread what is left.
 * Why `time`: this machine is shared, and a client's CPU time per connect is far steadier than
 * its wall time while other processes compete for the CPUs (the hook runs in the caller's
 * syscall, so its cost is in that CPU time). Why one socket for `send`: the sendmsg4 hook runs per datagram, so a producer of
 * ring-buffer events needs no socket()/close() per event (netclient's `loop` does both).
 *
 * @module
 */

const SOURCE = String.raw`
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* One listening socket per port (up to 64), each accepted connection closed at once. */
static int listen_mode(int nports)
{
	struct pollfd pfd[64];
	if (nports < 1 || nports > 64)
		return fprintf(stderr, "listen: 1..64 ports\n"), 2;
	for (int i = 0; i < nports; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		int one = 1;
		struct sockaddr_in a = {0};
		socklen_t len = sizeof(a);
		if (fd < 0)
			return perror("socket"), 2;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096) ||
		    getsockname(fd, (struct sockaddr *)&a, &len))
			return perror("listen"), 2;
		printf(i ? " %d" : "%d", ntohs(a.sin_port));
		pfd[i].fd = fd;
		pfd[i].events = POLLIN;
	}
	printf("\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, nports, -1) < 0) {
			if (errno == EINTR)
				continue;
			return perror("poll"), 2;
		}
		for (int i = 0; i < nports; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int c;
			while ((c = accept(pfd[i].fd, NULL, NULL)) >= 0) {
				/* Reset instead of FIN: the client never enters TIME_WAIT (see above). */
				struct linger lg = {1, 0};
				setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				close(c);
			}
		}
	}
}

static int send_mode(long long count, double rate, const char *addr, int port)
{
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return fprintf(stderr, "bad address %s\n", addr), 2;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return perror("socket"), 2;
	long long sent = 0, failed = 0, start = now_ns();
	while (sent + failed < count) {
		if (rate > 0) {
			/* Send what is due by now, then sleep a little: bursts of at most ~0.2 ms. */
			long long due = (long long)((now_ns() - start) * rate / 1e9) + 1;
			if (due > count)
				due = count;
			if (sent + failed >= due) {
				struct timespec nap = {0, 200000};
				nanosleep(&nap, NULL);
				continue;
			}
		}
		if (sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1)
			sent++;
		else
			failed++;
	}
	printf("sent=%lld failed=%lld ns=%lld\n", sent, failed, now_ns() - start);
	return failed ? 1 : 0;
}

/* Runs a program as a child; prints its CPU time (user + system, from wait4) and wall time. */
static int time_mode(char **argv)
{
	long long start = now_ns();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return perror("fork"), 2;
	if (pid == 0) {
		execv(argv[0], argv);
		perror("execv");
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0)
		return perror("wait4"), 2;
	long long wall = now_ns() - start;
	long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	printf("cpu_ns=%lld wall_ns=%lld\n", cpu, wall);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "listen"))
		return listen_mode(atoi(argv[2]));
	if (argc == 6 && !strcmp(argv[1], "send"))
		return send_mode(atoll(argv[2]), atof(argv[3]), argv[4], atoi(argv[5]));
	if (argc >= 3 && !strcmp(argv[1], "time"))
		return time_mode(argv + 2);
	fprintf(stderr, "usage: benchtool listen NPORTS | send COUNT RATE ADDR PORT | time PROG ARGS\n");
	return 2;
}
`;

/**
 * Compiles the helper into `dir` and returns the binary's path.
 *
 * @example
 * ```ts
 * const tool = await buildBenchTool(tmpDir);
 * ```
 */
export async function buildBenchTool(dir: string): Promise<string> {
  const src = `${dir}/benchtool.c`;
  const bin = `${dir}/benchtool`;
  await Deno.writeTextFile(src, SOURCE);
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-o", bin, src],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (cc.code !== 0) {
    throw new Error(`compiling ${src} failed:\n${new TextDecoder().decode(cc.stderr)}`);
  }
  return bin;
}

/** A running `benchtool listen`. */
export interface Listener {
  /** The listening ports (all on 127.0.0.1). */
  ports: number[];
  /** Kills the listener (SIGKILL) and waits for it. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts `benchtool listen` with `nports` ports under `argvPrefix` (e.g. `taskset -c 1`) and waits
 * for the ports.
 *
 * @example
 * ```ts
 * const l = await startListener(tool, 8, ["taskset", "-c", "1"]);
 * try { ... } finally { await l.stop(); }
 * ```
 */
export async function startListener(
  tool: string,
  nports: number,
  argvPrefix: string[] = [],
): Promise<Listener> {
  const argv = [...argvPrefix, tool, "listen", String(nports)];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
  };
  try {
    const reader = child.stdout.getReader();
    let text = "";
    const dec = new TextDecoder();
    const deadline = Date.now() + 5000;
    while (!text.includes("\n")) {
      if (Date.now() > deadline) throw new Error("benchtool listen printed no port within 5 s");
      const { value, done } = await reader.read();
      if (done) throw new Error("benchtool listen exited before printing its port");
      text += dec.decode(value, { stream: true });
    }
    reader.releaseLock();
    // Nothing else is printed; cancel so the pipe never fills and blocks the listener.
    child.stdout.cancel().catch(() => {});
    const ports = text.split("\n")[0].split(" ").map(Number);
    if (ports.length !== nports || !ports.every((p) => Number.isInteger(p) && p > 0)) {
      throw new Error(`benchtool listen ${nports} printed "${text}"`);
    }
    return { ports, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

const NETCLIENT_SOURCE = new URL("../../tests/fixtures/netclient.c", import.meta.url).pathname;

/**
 * Compiles tests/fixtures/netclient.c to `dir/name` (tests/helpers/netclient.ts builds into a temp
 * folder it never removes; a benchmark must leave nothing behind).
 *
 * @example
 * ```ts
 * const client = await buildNetclient(tmpDir, "client");
 * ```
 */
export async function buildNetclient(dir: string, name = "netclient"): Promise<string> {
  const bin = `${dir}/${name}`;
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-o", bin, NETCLIENT_SOURCE],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (cc.code !== 0) {
    throw new Error(
      `compiling ${NETCLIENT_SOURCE} failed:\n${new TextDecoder().decode(cc.stderr)}`,
    );
  }
  return bin;
}
