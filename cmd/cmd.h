/*
 * The CLI's commands. Only cmd/ prints to the terminal and chooses exit
 * codes; every command returns one of the CMD_EXIT_* codes below.
 */
#ifndef CF_CMD_H
#define CF_CMD_H

#include "engine/base/shard.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum cmd_exit {
	CMD_EXIT_OK = 0,            /* every server done, or nothing due */
	CMD_EXIT_FAILED = 1,        /* a server failed, was denied, lacks a CA */
	CMD_EXIT_USAGE = 2,         /* usage or configuration error */
	CMD_EXIT_LOCKED = 3         /* another run holds the lock */
};

struct cmd_opts {
	bool json;
	bool quiet;
	bool force;
	bool no_assign;             /* stop at issued, like unticking "assign" */
	bool all;                   /* approve: every pending server */
	bool import_ca;             /* import CAs pinned in ca.trusted_roots */
	bool verbose;               /* trace every transition on stderr */
	const char **limit;         /* --limit values (comma lists of names,
	                               groups, globs); see fleet_select */
	size_t nlimit;
	const char **exclude;       /* --exclude values, the same syntax */
	size_t nexclude;
	struct shard shard;         /* --shard K/N; n == 0 when not given */
	const char *batch;          /* --batch N|P%: servers per batch */
	const char *max_failures;   /* --max-failures N|P% */
	const char *canary;         /* --canary LIST */
	bool no_verify;             /* --no-verify: assign without proving */
	const char *metrics;        /* --metrics FILE, or NULL */
	const char *html;           /* --html FILE, or NULL */
	const char *explain;        /* check --explain SERVER (KEY is the
	                               operand after the fleet file) */
	const char *fleet;          /* the fleet file */
	char **args;                /* operands after the fleet file */
	int nargs;
};

struct fleet;
struct journal_set;
struct report;
struct report_row;
struct server;

/* Loads the fleet file, printing every problem; CMD_EXIT_OK or _USAGE.
 * The caller releases f either way. */
int cmd_fleet_load(struct fleet *f, const char *path);

/*
 * Opens the journals a reading command shows (journal_set_open): with
 * --shard, only that shard's; else the unsharded one and every shard's
 * found under state_dir. None is no error (js->n == 0). Prints a failure;
 * returns the exit code, js holding nothing on failure.
 */
int cmd_journals_of(const struct fleet *f, const struct cmd_opts *o,
    struct journal_set *js);

/* The servers --limit and --exclude choose, in inventory order, as a new
 * array in *out (freed by the caller, also on failure); prints why none.
 * Returns CMD_EXIT_OK, or _USAGE for a pattern that matches nothing. */
int cmd_select(const struct fleet *f, const struct cmd_opts *o,
    const struct server ***out, size_t *n);

/* Prints j (NULL: out of memory) on stdout, indented, and drops it. */
void cmd_print_json(json_t *j);

/* Prints a report as a table, or as JSON with --json. */
void cmd_print_report(const struct cmd_opts *o, struct report *rep);

/* Wall-clock milliseconds, for a report's duration. */
int64_t cmd_now_ms(void);

/*
 * Renders one output file of a command's report into *buf (the caller
 * frees it), reading what each server holds and the last success from js
 * (NULL: no journal). 0, or a CF_E* code with msg.
 */
typedef int (*cmd_render_fn)(const struct cmd_opts *o,
    const struct fleet *f, struct journal_set *js, const struct report *rep,
    int exit_code, char **buf, size_t *len, char *msg, size_t msgsz);

/* --metrics FILE: Prometheus metrics (cmd_metrics.c). */
int cmd_render_metrics(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code,
    char **buf, size_t *len, char *msg, size_t msgsz);

/* --html FILE: the HTML report (cmd_html.c). */
int cmd_render_html(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code,
    char **buf, size_t *len, char *msg, size_t msgsz);

/*
 * With --metrics and --html, writes rep to those files (each replaced
 * atomically, mode 0644), reading what each server holds and the last
 * success from js, or from the journals cmd_journals_of opens when js is
 * NULL (plan). With --shard every metric carries a shard="K/N" label, so
 * that the shards' files can sit side by side in one collector.
 * Returns exit_code, or CMD_EXIT_FAILED in its place when it was 0 and a
 * file could not be written (said on stderr).
 */
int cmd_write_outputs(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code);

/* What row's server holds (status_row_installed), read from the journal
 * in js that wrote to it last; none when js is NULL. 0 or a CF_E* code. */
int cmd_row_installed(struct journal_set *js, const struct report *rep,
    const struct report_row *row, unsigned *usages, time_t *not_after,
    char *msg, size_t msgsz);

/*
 * After run and assign: runs the fleet's after_run hook, if it has one,
 * once, with rep as a JSON file (CERTFLEET_REPORT) and exit_code
 * (CERTFLEET_EXIT) in its environment, and waits for it. A hook that
 * cannot start, times out or fails is said on stderr; nothing else
 * changes.
 */
void cmd_after_run(const struct fleet *f, const struct report *rep,
    int exit_code);

int cmd_check(const struct cmd_opts *o);
int cmd_ca_init(const struct cmd_opts *o);
int cmd_run(const struct cmd_opts *o);
int cmd_plan(const struct cmd_opts *o);
int cmd_assign(const struct cmd_opts *o);
int cmd_status(const struct cmd_opts *o);
int cmd_report(const struct cmd_opts *o);
int cmd_approve(const struct cmd_opts *o);
int cmd_show(const struct cmd_opts *o);

#endif
