/*
 * The local transport: the server is a directory on this machine (its
 * root), and its commands run here with that directory as their working
 * directory. Used by the demo, by tests, and for hosts that run certfleet
 * themselves. It must never read or write anything outside the root.
 *
 * How it keeps to the root (see transport_local_fs.c):
 * - Writes walk from the root one component at a time with openat(2) and
 *   O_NOFOLLOW | O_DIRECTORY, and create the final name with O_EXCL |
 *   O_NOFOLLOW (or rename a new symlink over it). A symlinked directory on
 *   the way is refused even when it points inside the root: there is no
 *   window between a check and the write.
 * - Reads follow symlinks (the installed layout is made of them) but only
 *   while they stay below the root: the path is resolved with realpath(3),
 *   checked against the root's real path, then opened again by the same
 *   O_NOFOLLOW walk, so a symlink swapped in between fails instead of
 *   leading out.
 * - File work runs in the libuv threadpool (uv_queue_work), one work item
 *   per operation (transport_local_queue.c); callbacks come from the
 *   after-work callback on the loop thread. Commands run through proc_run
 *   (no shell) in their own process group, so a timeout kills the command
 *   and whatever it started.
 */
#ifndef CF_TRANSPORT_LOCAL_H
#define CF_TRANSPORT_LOCAL_H

#include <stddef.h>

#include <uv.h>

#include "engine/transport/transport.h"

/*
 * Opens a transport for the server called server whose root is the local
 * directory root (absolute or relative to the working directory; nothing is
 * checked until the first operation). Returns 0 with a new transport in
 * *out, released with (*out)->ops->close; or CF_EINVAL / CF_ENOMEM and msg.
 */
int transport_local_open(struct transport **out, uv_loop_t *loop,
    const char *server, const char *root, char *msg, size_t msgsz);

#endif
