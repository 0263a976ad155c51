/*
 * Which servers a command works on: --limit, --exclude and --shard. Each
 * --limit or --exclude value is a comma list of server names, group names
 * and fnmatch(3) globs over both ("web*,db01"); the options may be given
 * several times. --shard keeps the servers of one shard (engine/base/
 * shard.h) of what the others chose. Selection only: nothing here reads a
 * file or prints.
 */
#ifndef CF_SELECT_H
#define CF_SELECT_H

#include "engine/base/shard.h"
#include "inventory/fleet.h"

#include <stddef.h>

/* What the command line asked for. */
struct fleet_selection {
	const char *const *limit;
	size_t nlimit;
	const char *const *exclude;
	size_t nexclude;
	struct shard shard;         /* n == 0: no --shard */
};

/*
 * Fills out (room for f->nservers entries) with the servers chosen, in
 * inventory order, and sets *n. With nlimit 0 every server is chosen;
 * otherwise those a limit pattern matches. A server an exclude pattern
 * matches is never chosen (exclude wins). Of those, a shard keeps its own.
 * Patterns are judged on the whole fleet: one that matches only servers
 * of other shards is no mistake, and a shard left empty is no error (the
 * fleet may have fewer servers than shards). Returns 0; CF_ENOENT when a
 * pattern matches no server or group, or when --exclude leaves nothing;
 * CF_EINVAL for an empty pattern; CF_ENOMEM. msg names the option and the
 * pattern.
 */
int fleet_select(const struct fleet *f, const struct fleet_selection *sel,
    const struct server **out, size_t *n, char *msg, size_t msgsz);

#endif
