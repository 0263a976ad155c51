/*
 * --html FILE on run, plan, assign and report: the command's report as one
 * HTML page (engine/report/html.c), with each server's first group for
 * the picture's lanes and the certificate it holds as the journal knows
 * it (status_row_installed, as the metrics' not_after), so that a server
 * whose renewal fails still shows the certificate that is running out.
 */
#include "cmd/cmd.h"
#include "engine/base/err.h"
#include "engine/report/html.h"
#include "inventory/fleet.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The server of each row. The rows follow the inventory's order
 * (cmd_select keeps it), so one pass finds them all; a row out of that
 * order is looked up. */
static const struct server *server_of(const struct fleet *f, size_t *next,
    const char *name)
{
	size_t i;

	for (i = *next; i < f->nservers; i++)
		if (strcmp(f->servers[i].name, name) == 0) {
			*next = i + 1;
			return &f->servers[i];
		}
	return fleet_server_find(f, name);
}

int cmd_render_html(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code,
    char **buf, size_t *len, char *msg, size_t msgsz)
{
	struct html_server *srv = calloc(rep->n + 1, sizeof(*srv));
	const struct server *s;
	size_t i, next = 0;
	unsigned usages;
	int rc = 0;

	(void)o;
	(void)exit_code;
	*buf = NULL;
	*len = 0;
	if (srv == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (i = 0; rc == 0 && i < rep->n; i++) {
		s = server_of(f, &next, rep->rows[i].name);
		srv[i].group = s && s->ngroups ? s->groups[0] : NULL;
		rc = cmd_row_installed(js, rep, &rep->rows[i], &usages,
		    &srv[i].not_after, msg, msgsz);
	}
	if (rc == 0 && html_render(rep, srv, time(NULL), buf, len) != 0)
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	free(srv);
	return rc;
}
