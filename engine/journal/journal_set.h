/*
 * Every journal of a state directory at once, for the commands that read
 * the whole fleet (status, show, approve, metrics, report): the unsharded
 * run's STATE_DIR/journal.db and each shard's STATE_DIR/shards/K-of-N/
 * journal.db (engine/base/shard.h). A server's record is taken from the
 * journal that wrote to it last, so a fleet that moved from one
 * controller to shards, or from N shards to M, shows what happened most
 * recently to each server. Reads only, and opens no journal that does not
 * exist yet.
 */
#ifndef CF_JOURNAL_SET_H
#define CF_JOURNAL_SET_H

#include "engine/base/shard.h"
#include "engine/journal/journal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The journal's file in its directory (the state dir or a shard's). */
#define JOURNAL_FILE "journal.db"

struct journal_set_entry {
	struct journal *jr;
	struct shard shard;         /* n == 0: the unsharded journal */
	bool owned;                 /* opened here, closed by the release */
	bool used;                  /* picked for some server */
};

struct journal_set {
	struct journal_set_entry *v;  /* unsharded first, then by N, K */
	size_t n;
};

/* An empty set; journal_set_release on it is harmless. */
void journal_set_init(struct journal_set *js);

/*
 * Opens the journals under state_dir that exist: with one NULL, the
 * unsharded journal and every shard's; else only *one's (one->n == 0: the
 * unsharded journal). None at all is no error: js->n is then 0. Returns
 * 0, or a CF_E* code with msg (js then holds nothing).
 */
int journal_set_open(struct journal_set *js, const char *state_dir,
    const struct shard *one, char *msg, size_t msgsz);

/* A set of the one journal jr, which stays the caller's to close (a run's
 * own journal). Returns 0 or CF_ENOMEM. */
int journal_set_borrow(struct journal_set *js, struct journal *jr);

/* Closes the journals the set opened and frees it; js may be reused. */
void journal_set_release(struct journal_set *js);

/*
 * The journal that wrote last to server name (its servers row or its
 * newest request, by updated_at; a tie goes to the later entry) into
 * *out, marking it used; NULL when no journal knows the server. With one
 * journal, that one, unread. Returns 0, or CF_EDB/CF_ENOMEM with msg.
 */
int journal_set_pick(struct journal_set *js, const char *name,
    struct journal **out, char *msg, size_t msgsz);

/*
 * When the set last succeeded, into *at: with one journal, its last run
 * that exited 0; with several, the oldest of those of the journals picked
 * so far (a fleet has succeeded once every part showing has), 0 when one
 * of them never has or none was picked. Returns 0 or CF_EDB with msg.
 */
int journal_set_last_success(struct journal_set *js, int64_t *at,
    char *msg, size_t msgsz);

#endif
