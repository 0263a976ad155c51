/*
 * `approve`: manual approval of requests the embedded CA holds as pending
 * (approval = "manual"). It writes only the approved column of the
 * server's open request, so it is safe while a run holds that request:
 * the run never writes the column back and reads it before asking the CA.
 * Each request is approved in the journal that wrote to its server last,
 * so the shards' pending requests are approved where they wait.
 */
#include "cmd/cmd.h"
#include "engine/journal/journal_set.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct approvals {
	json_t *approved;           /* server names */
	json_t *refused;            /* {server, error} */
};

/* Approves name's request in the journal that wrote to it last (a
 * shard's, when shards run the fleet). */
static int approve_one(struct journal_set *js, const char *name,
    struct approvals *a, bool json)
{
	struct journal *jr;
	char msg[512];

	if (journal_set_pick(js, name, &jr, msg, sizeof msg) != 0 ||
	    journal_approve(jr ? jr : js->v[0].jr, name, msg,
	    sizeof msg) != 0) {
		if (json)
			json_array_append_new(a->refused, json_pack("{s:s, s:s}",
			    "server", name, "error", msg));
		else
			fprintf(stderr, "certfleet: %s\n", msg);
		return CMD_EXIT_FAILED;
	}
	json_array_append_new(a->approved, json_string(name));
	if (!json)
		printf("approved '%s'\n", name);
	return CMD_EXIT_OK;
}

int cmd_approve(const struct cmd_opts *o)
{
	struct approvals a = { json_array(), json_array() };
	struct fleet f;
	struct journal_set js;
	struct journal_request rq;
	struct journal *jr;
	const struct server **sel = NULL;
	char msg[512];
	size_t i, n, nsel = 0;
	int k, rc;

	journal_set_init(&js);
	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK)
		goto out;
	if (!o->all && o->nargs == 0) {
		fprintf(stderr, "certfleet: approve needs server names or "
		    "--all\n");
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	/* --limit and --exclude narrow --all; named servers are named. */
	if (!o->all && (o->nlimit || o->nexclude)) {
		fprintf(stderr, "certfleet: approve takes --limit and --exclude "
		    "only with --all\n");
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_select(&f, o, &sel, &nsel)) != CMD_EXIT_OK)
		goto out;
	for (k = 0; k < o->nargs; k++)
		if (fleet_server_find(&f, o->args[k]) == NULL) {
			fprintf(stderr, "certfleet: no server '%s' in '%s'\n",
			    o->args[k], o->fleet);
			rc = CMD_EXIT_USAGE;
			goto out;
		}
	if ((rc = cmd_journals_of(&f, o, &js)) != CMD_EXIT_OK)
		goto out;
	if (js.n == 0) {
		fprintf(stderr, "certfleet: nothing to approve: no run has "
		    "journaled a request yet\n");
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	/* --all: every request the CA holds or is about to. A run going on
	 * moves requests between pending and poll; both are approved. */
	journal_request_init(&rq);
	for (i = 0; o->all && i < nsel; i++) {
		const char *name = sel[i]->name;

		if (journal_set_pick(&js, name, &jr, msg, sizeof msg) != 0 ||
		    jr == NULL || journal_request_open(jr, name, &rq, msg,
		    sizeof msg) != 0 || rq.approved || (strcmp(rq.state, "pending") != 0 &&
		    strcmp(rq.state, "poll") != 0 &&
		    strcmp(rq.state, "submit") != 0))
			continue;
		if (approve_one(&js, name, &a, o->json) != CMD_EXIT_OK)
			rc = CMD_EXIT_FAILED;
	}
	journal_request_release(&rq);
	for (k = 0; k < o->nargs; k++)
		if (approve_one(&js, o->args[k], &a, o->json) != CMD_EXIT_OK)
			rc = CMD_EXIT_FAILED;
	n = json_array_size(a.approved);
	if (o->json) {
		cmd_print_json(json_pack("{s:i, s:s, s:s, s:O, s:O}",
		    "schema_version", REPORT_SCHEMA_VERSION, "fleet", f.name,
		    "command", "approve", "approved", a.approved,
		    "refused", a.refused));
	} else if (!o->quiet) {
		printf("%zu request%s approved; the next run collects %s\n", n,
		    n == 1 ? "" : "s", n == 1 ? "it" : "them");
	}
out:
	json_decref(a.approved);
	json_decref(a.refused);
	journal_set_release(&js);
	free(sel);
	fleet_release(&f);
	return rc;
}
