/*
 * Which servers a command works on: --limit and --exclude. Each value is a
 * comma list of server names, group names and fnmatch(3) globs over both
 * ("web*,db01"); the options may be given several times. Selection only:
 * nothing here reads a file or prints.
 */
#ifndef CF_SELECT_H
#define CF_SELECT_H

#include "inventory/fleet.h"

#include <stddef.h>

/*
 * Fills out (room for f->nservers entries) with the servers chosen, in
 * inventory order, and sets *n. With nlimit 0 every server is chosen;
 * otherwise those a limit pattern matches. A server an exclude pattern
 * matches is never chosen (exclude wins). Returns 0; CF_ENOENT when a
 * pattern matches no server or group, or when nothing is left; CF_EINVAL
 * for an empty pattern; CF_ENOMEM. msg names the option and the pattern.
 */
int fleet_select(const struct fleet *f, const char *const *limit,
    size_t nlimit, const char *const *exclude, size_t nexclude,
    const struct server **out, size_t *n, char *msg, size_t msgsz);

#endif
