/*
 * Group commit (group_commit.h). The prepare handle is active only while a
 * job waits, so an idle run's loop can still end; it drains the waiters
 * until none is left, since a job called back may write and wait again at
 * once (a transition that needs no I/O), and the loop must not block with
 * a job waiting on a commit nobody makes.
 */
#include "engine/job/group_commit.h"
#include "engine/base/err.h"

#include <stdbool.h>

static void on_prepare(uv_prepare_t *h)
{
	struct group_commit *g = h->data;
	char msg[512];

	while (g->head != NULL)
		group_commit_flush(g, msg, sizeof msg);
	uv_prepare_stop(h);
}

int group_commit_init(struct group_commit *g, uv_loop_t *loop,
    struct journal *jr)
{
	int rc;

	g->jr = jr;
	g->head = NULL;
	g->tail = &g->head;
	g->commits = 0;
	if ((rc = uv_prepare_init(loop, &g->prep)) != 0)
		return CF_EINTERNAL;
	g->prep.data = g;
	journal_group(jr, true, NULL, 0);
	return 0;
}

void group_commit_wait(struct group_commit *g, struct gc_waiter *w,
    void (*cb)(struct gc_waiter *w, int status, const char *msg))
{
	w->cb = cb;
	w->next = NULL;
	*g->tail = w;
	g->tail = &w->next;
	uv_prepare_start(&g->prep, on_prepare);
}

int group_commit_flush(struct group_commit *g, char *msg, size_t msgsz)
{
	struct gc_waiter *w = g->head, *next;
	bool open = journal_uncommitted(g->jr);
	int rc;

	msg[0] = '\0';
	rc = journal_commit(g->jr, msg, msgsz);
	if (open)
		g->commits++;
	/* Detached first: a callback may wait again, for the next commit. */
	g->head = NULL;
	g->tail = &g->head;
	for (; w != NULL; w = next) {
		next = w->next;
		w->cb(w, rc, msg);
	}
	return rc;
}

int group_commit_close(struct group_commit *g, char *msg, size_t msgsz)
{
	char last[512];
	int rc = 0, r;

	/* Every waiter is called back, failed commit or not; a job told of a
	 * failure ends, so this ends too. The first failure is the answer. */
	while (g->head != NULL || journal_uncommitted(g->jr))
		if ((r = group_commit_flush(g, last, sizeof last)) != 0 &&
		    rc == 0)
			rc = cf_error(msg, msgsz, r, "%s", last);
	journal_group(g->jr, false, NULL, 0);
	uv_close((uv_handle_t *)&g->prep, NULL);
	return rc;
}
