/*
 * What the local transport's files share, and nothing else includes: the
 * transport, one file operation as it crosses the threadpool, and the
 * functions that cross files. transport_local.c holds the ops table,
 * transport_local_queue.c the threadpool plumbing, transport_local_fs.c
 * the confinement below the root, transport_local_install.c the versioned
 * install. Functions here that take an op run on a threadpool thread and
 * report through tl_fail, unless they say otherwise.
 */
#ifndef CF_TRANSPORT_LOCAL_INT_H
#define CF_TRANSPORT_LOCAL_INT_H

#include "engine/transport/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <unistd.h>
#include <uv.h>

/* Directories the transport creates. */
#define TL_DIR_MODE 0755
/* Attempts at a fresh temporary or version name. */
#define TL_NAME_TRIES 16

struct tl {
	struct transport base;
	char *root;
	char *abs_root;             /* root from /, for commands (base.root) */
	unsigned pending;           /* operations not yet called back */
	bool closing;
	uv_work_t close_work;
	void (*close_cb)(void *arg);
	void *close_arg;
};

struct member_copy {
	char *name;
	char *link;
	char *data;
	size_t len;
	unsigned mode;
};

/* One file operation: inputs copied in, results handed back. */
struct op {
	uv_work_t work;
	struct tl *tl;
	void (*run)(struct op *op);         /* on a threadpool thread */
	void (*done)(struct op *op);        /* on the loop: calls back */
	void *arg;
	union tl_cb {
		transport_file_cb file;
		transport_store_cb store;
		transport_install_cb install;
		transport_status_cb status;
	} cb;
	int status;
	char msg[768];
	/* inputs */
	char *path;                 /* read_file, read_store, write_file */
	size_t max;
	unsigned mode;              /* write_file */
	char *store;                /* install */
	char *pointer;
	struct member_copy *members;
	size_t nmembers;
	struct transport_undo *in_undo;     /* rollback */
	/* outputs */
	char *data;
	size_t len;
	struct transport_entry *entries;    /* name and data owned */
	size_t nentries;
	struct transport_undo *undo;
};

/* Cleanup paths close what they opened; -1 was never opened. */
static inline void tl_close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* ---- transport_local_queue.c: on the loop thread ---- */

/* A new op for tl, NULL when tl is closing or memory runs out. */
struct op *tl_op_new(struct tl *tl, void (*run)(struct op *),
    void (*done)(struct op *), union tl_cb cb, void *arg);
/* Queues op: 0, or CF_ETRANSPORT with op freed. */
int tl_op_queue(struct op *op);
void tl_op_free(struct op *op);
/* Records the first failure of op, "cannot VERB 'PATH' on 'SERVER': "
 * and the reason formatted from fmt; returns its code. Any thread. */
int tl_fail(struct op *op, int code, const char *verb, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* tl_fail with errno's code and reason ("out of memory" for ENOMEM). */
int tl_fail_errno(struct op *op, const char *verb, const char *path);
/* Frees tl and calls its close callback once closing and idle. */
void tl_maybe_closed(struct tl *tl);
/* The ops table's close: waits for the queue, then calls back. */
void tl_close(struct transport *t, void (*cb)(void *arg), void *arg);

/* ---- transport_local_fs.c: paths and descriptors below the root ---- */

char *tl_rel_target(const char *link, const char *to);
char *tl_lex_join(const char *link, const char *text);
int tl_open_root(struct op *op, const char *verb, const char *shown);
int tl_walk_dir(struct op *op, int rootfd, const char *rel, const char **base,
    bool create, const char *verb, const char *shown);
int tl_open_confined(struct op *op, const char *rel, const char *shown,
    bool *missing);
int tl_read_fd(struct op *op, int fd, size_t max, const char *shown,
    char **data, size_t *len);
char **tl_list_dir(int fd, bool skip_dot, size_t *count);
void tl_read_file_run(struct op *op);
void tl_read_store_run(struct op *op);
void tl_write_file_run(struct op *op);
void tl_remove_run(struct op *op);

/* ---- transport_local_install.c ---- */

void tl_install_run(struct op *op);
void tl_rollback_run(struct op *op);

#endif
