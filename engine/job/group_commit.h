/*
 * Group commit of the run's journal on the loop: the transitions of every
 * server that moved during one loop turn are committed together, at the
 * end of the turn (a uv_prepare handle, run just before the loop waits for
 * I/O), so the sync of the journal is shared instead of paid per
 * transition. A job that has written waits here, and its next side effect
 * starts only from its waiter's callback, once the commit that carries the
 * write has returned: the write-ahead rule of DESIGN.md, kept.
 */
#ifndef CF_GROUP_COMMIT_H
#define CF_GROUP_COMMIT_H

#include "engine/journal/journal.h"

#include <stddef.h>
#include <uv.h>

/* One job waiting for the commit; lives inside its owner (container_of). */
struct gc_waiter {
	struct gc_waiter *next;
	/* status 0: every write made before the wait is durable; else none
	 * of the batch is, and msg says why. */
	void (*cb)(struct gc_waiter *w, int status, const char *msg);
};

struct group_commit {
	uv_prepare_t prep;
	struct journal *jr;
	struct gc_waiter *head;
	struct gc_waiter **tail;
	size_t commits;             /* transactions committed */
};

/* Groups jr's writes (journal_group) until group_commit_close. 0, or the
 * CF_E* code of uv_prepare_init. */
int group_commit_init(struct group_commit *g, uv_loop_t *loop,
    struct journal *jr);

/* w->cb runs (from the loop, never from inside this call) once the
 * writes made so far are committed, or have failed to be. */
void group_commit_wait(struct group_commit *g, struct gc_waiter *w,
    void (*cb)(struct gc_waiter *w, int status, const char *msg));

/* Commits what is open now and calls back every waiter; 0 or the
 * commit's CF_E* code with msg. */
int group_commit_flush(struct group_commit *g, char *msg, size_t msgsz);

/* Commits what is left, ends the grouping and closes the handle (run the
 * loop once more to finish closing). 0 or a CF_E* code with msg. */
int group_commit_close(struct group_commit *g, char *msg, size_t msgsz);

#endif
