/*
 * peak_rss: runs a command and reports its wall time and peak resident set
 * size, so the benchmark does not depend on GNU time being installed.
 *
 *     peak_rss [-q] [-o FILE] COMMAND [ARG...]
 *
 * Starts COMMAND with fork/execvp (no shell), waits for it with wait4 and
 * prints one line to stderr:
 *
 *     peak_rss: wall 1.234 s, peak rss 5678 KiB, exit 0
 *
 * With -o FILE it also writes "WALL_SECONDS PEAK_KIB EXIT\n" to FILE, for
 * scripts; -q leaves out the line on stderr. The peak is ru_maxrss of the
 * waited-for child, which on Linux is the largest peak among the child and
 * every descendant it waited for.
 * Exits with the command's exit status (128 + signal number when it was
 * killed, 127 when it could not be started). It must never run anything
 * through a shell or change what the command sees besides its own argv.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: peak_rss [-q] [-o FILE] COMMAND [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	struct rusage ru;
	double t0, wall;
	int argi = 1, quiet = 0, status, code;
	pid_t pid, w;
	FILE *fp;

	if (argi < argc && strcmp(argv[argi], "-q") == 0) {
		quiet = 1;
		argi++;
	}
	if (argi < argc && strcmp(argv[argi], "-o") == 0) {
		if (argi + 1 >= argc)
			usage();
		out = argv[argi + 1];
		argi += 2;
	}
	if (argi < argc && strcmp(argv[argi], "--") == 0)
		argi++;
	if (argi >= argc)
		usage();

	t0 = now_seconds();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "peak_rss: cannot fork: %s\n", strerror(errno));
		return 127;
	}
	if (pid == 0) {
		execvp(argv[argi], &argv[argi]);
		fprintf(stderr, "peak_rss: cannot run '%s': %s\n", argv[argi],
		    strerror(errno));
		_exit(127);
	}
	memset(&ru, 0, sizeof(ru));
	do
		w = wait4(pid, &status, 0, &ru);
	while (w < 0 && errno == EINTR);
	wall = now_seconds() - t0;
	if (w < 0) {
		fprintf(stderr, "peak_rss: cannot wait: %s\n", strerror(errno));
		return 127;
	}
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 127;

	if (!quiet)
		fprintf(stderr, "peak_rss: wall %.3f s, peak rss %ld KiB, "
		    "exit %d\n", wall, ru.ru_maxrss, code);
	if (out != NULL) {
		if ((fp = fopen(out, "w")) == NULL) {
			fprintf(stderr, "peak_rss: cannot write '%s': %s\n",
			    out, strerror(errno));
			return code != 0 ? code : 1;
		}
		fprintf(fp, "%.6f %ld %d\n", wall, ru.ru_maxrss, code);
		if (fclose(fp) != 0) {
			fprintf(stderr, "peak_rss: cannot write '%s': %s\n",
			    out, strerror(errno));
			return code != 0 ? code : 1;
		}
	}
	return code;
}
