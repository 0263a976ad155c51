/*
 * A report as one self-contained HTML page, for a browser opened on a file
 * or a web server's static directory: the summary counts in the table's
 * words, a picture of the fleet's expiry (expiry.c), the servers that need
 * a person, then every server. Inline CSS and SVG only: no script, no
 * font, no image, nothing fetched. Pure: it renders into memory and never
 * reads a file or the journal.
 */
#ifndef CF_HTML_H
#define CF_HTML_H

#include "engine/report/report.h"

#include <stddef.h>
#include <time.h>

/* What a report row does not say of its server, for the picture. */
struct html_server {
	const char *group;          /* its lane: its first group; NULL: none */
	time_t not_after;           /* when the certificate it holds expires
	                               (status_row_installed); 0: none known */
};

/*
 * Renders r into *buf, a new NUL-ended string of *len bytes the caller
 * frees. srv has r->n entries, parallel to r->rows, or is NULL (no groups,
 * and each row's own certificate as the one held). Days left count from
 * now, the time the page is generated. Every inventory, CA and error value
 * is escaped. Returns 0, or CF_ENOMEM.
 */
int html_render(const struct report *r, const struct html_server *srv,
    time_t now, char **buf, size_t *len);

#endif
