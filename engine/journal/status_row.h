/*
 * What `status` and `show` say of a server, from the journal alone: what
 * the last run or assign found on it (the report row it printed), unless a
 * run that stopped, or is still going, has moved its request on since.
 */
#ifndef CF_STATUS_ROW_H
#define CF_STATUS_ROW_H

#include "engine/journal/journal.h"
#include "engine/report/report.h"

/* How a report shows a server whose job ended, or was left, in state (an
 * enum job_state, or -1 for none: failed). */
enum report_status status_row_of_state(int state);

/*
 * Fills row (its name set, the rest empty) for server name. latest, when
 * not NULL (initialised), gets the server's newest request, or is left
 * empty. Returns 0, or CF_EDB/CF_ENOMEM with msg.
 */
int status_row_fill(const struct usage_table *t, struct journal *jr,
    const char *name,
    struct report_row *row, struct journal_request *latest, char *msg,
    size_t msgsz);

/*
 * The certificate server row->name holds, as far as the report row and
 * the journal know: the row's own when it is assigned or up to date, else
 * the newest request the journal saw assigned (a later request that
 * failed, waits, or was rolled back leaves that one installed). jr may be
 * NULL (no journal); t names the usages. Fills *usages (bit 1 << enum usage; 0: none known)
 * and *not_after. Returns 0, or CF_EDB/CF_ENOMEM with msg.
 */
int status_row_installed(const struct usage_table *t, struct journal *jr,
    const struct report_row *row,
    unsigned *usages, time_t *not_after, char *msg, size_t msgsz);

#endif
