/*
 * The files a command writes besides what it prints: --metrics FILE and
 * --html FILE, each rendered from the command's report (cmd_metrics.c,
 * cmd_html.c) and replaced atomically, mode 0644: a textfile collector or
 * a web server may read it at any moment, seldom as the user who runs us,
 * and must never see half of it.
 */
#include "cmd/cmd.h"
#include "engine/base/fsio.h"
#include "engine/journal/journal_set.h"
#include "engine/journal/status_row.h"

#include <stdio.h>
#include <stdlib.h>

#define OUTPUT_MODE 0644

int cmd_row_installed(struct journal_set *js, const struct report *rep,
    const struct report_row *row, unsigned *usages, time_t *not_after,
    char *msg, size_t msgsz)
{
	struct journal *jr = NULL;
	int rc = 0;

	if (js != NULL)
		rc = journal_set_pick(js, row->name, &jr, msg, msgsz);
	return rc ? rc : status_row_installed(rep->utab, jr, row, usages,
	    not_after, msg, msgsz);
}

/* Renders one file and writes it to path; exit_code, or
 * CMD_EXIT_FAILED in its place when it was 0 and that failed (said on
 * stderr). */
static int write_output(const char *path, cmd_render_fn render,
    const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code)
{
	char msg[1024], *buf = NULL;
	size_t len = 0;
	int rc;

	rc = render(o, f, js, rep, exit_code, &buf, &len, msg, sizeof msg);
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
    struct journal_set *js, const struct report *rep, int exit_code)
{
	struct journal_set own;

	if (o->metrics == NULL && o->html == NULL)
		return exit_code;
	journal_set_init(&own);
	/* plan keeps no journal open; what it knows is read here. */
	if (js == NULL && cmd_journals_of(f, o, &own) != CMD_EXIT_OK)
		return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
	js = js ? js : &own;
	if (o->metrics)
		exit_code = write_output(o->metrics, cmd_render_metrics, o, f,
		    js, rep, exit_code);
	if (o->html)
		exit_code = write_output(o->html, cmd_render_html, o, f, js,
		    rep, exit_code);
	journal_set_release(&own);
	return exit_code;
}
