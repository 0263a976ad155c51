/*
 * A command's report as Prometheus metrics, in the text exposition format
 * (version 0.0.4) that node_exporter's textfile collector reads: every
 * family with its HELP and TYPE lines, label values escaped. Pure: it
 * formats what the caller gathered (report rows, what each server holds,
 * the journal's last success) and never reads a file or the journal.
 */
#ifndef CF_METRICS_H
#define CF_METRICS_H

#include "engine/report/report.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The certificate one server holds: for report row i, certs[i]. */
struct metrics_cert {
	unsigned usages;            /* bit 1 << enum usage; 0: none known */
	time_t not_after;
};

/* What the metrics say of the command itself, beyond the report. */
struct metrics_run {
	int exit_code;              /* what the command exits with */
	int64_t last_success;       /* when the last run that exited 0
	                               finished; 0 when none has */
	const char *shard;          /* "K/N" with --shard, else NULL: a
	                               shard="K/N" label on every series */
};

/*
 * Writes r as metrics to out: the certificates (certs has r->n entries,
 * parallel to r->rows), each server's status, the counts per status
 * (every status, 0 included, so a series never vanishes), the CAs each
 * server lacks, and the command's duration, start, exit code and the
 * last success. Returns 0, or CF_EIO when out failed.
 */
int metrics_write(const struct report *r, const struct metrics_cert *certs,
    const struct metrics_run *run, FILE *out);

/* Writes s to out as a label value: backslash, double quote and newline
 * escaped as the format requires. */
void metrics_write_label(FILE *out, const char *s);

#endif
