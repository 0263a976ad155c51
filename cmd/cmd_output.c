/*
 * The files a command writes besides what it prints: --metrics FILE and
 * --html FILE, each rendered from the command's report (cmd_metrics.c,
 * cmd_html.c) and replaced atomically, mode 0644: a textfile collector or
 * a web server may read it at any moment, seldom as the user who runs us,
 * and must never see half of it.
 */
#include "cmd/cmd.h"
#include "engine/base/fsio.h"
#include "engine/journal/journal.h"

#include <stdio.h>
#include <stdlib.h>

#define OUTPUT_MODE 0644

/* Renders one file and writes it to path; exit_code, or
 * CMD_EXIT_FAILED in its place when it was 0 and that failed (said on
 * stderr). */
static int write_output(const char *path, cmd_render_fn render,
    const struct fleet *f, struct journal *jr, const struct report *rep,
    int exit_code)
{
	char msg[1024], *buf = NULL;
	size_t len = 0;
	int rc;

	rc = render(f, jr, rep, exit_code, &buf, &len, msg, sizeof msg);
	if (rc == 0)
		rc = fsio_write_atomic(path, buf, len, OUTPUT_MODE, msg,
		    sizeof msg);
	free(buf);
	if (rc == 0)
		return exit_code;
	fprintf(stderr, "certfleet: %s\n", msg);
	return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
}

int cmd_write_outputs(const struct cmd_opts *o, const struct fleet *f,
    struct journal *jr, const struct report *rep, int exit_code)
{
	struct journal own;
	bool found = false;

	if (o->metrics == NULL && o->html == NULL)
		return exit_code;
	/* plan keeps no journal open; what it knows is read here. */
	if (jr == NULL && cmd_journal_of(f, &own, &found) != CMD_EXIT_OK)
		return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
	jr = jr ? jr : found ? &own : NULL;
	if (o->metrics)
		exit_code = write_output(o->metrics, cmd_render_metrics, f, jr,
		    rep, exit_code);
	if (o->html)
		exit_code = write_output(o->html, cmd_render_html, f, jr, rep,
		    exit_code);
	if (found)
		journal_close(&own);
	return exit_code;
}
