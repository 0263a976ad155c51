/*
 * Path helpers shared by the fleet file check and the transports. Strings
 * only: nothing here reads or writes files (path_absolute asks for the
 * working directory).
 */
#ifndef CF_PATH_H
#define CF_PATH_H

#include <stdbool.h>

/* A new string "dir/name", or name itself (copied) when it is absolute or
 * dir is NULL or empty. NULL when out of memory; the caller frees. */
char *path_join(const char *dir, const char *name);

/* A new string: path taken from the working directory when it is
 * relative (not resolved: symlinks and ".." stay); a copy when it is
 * absolute, or when the working directory cannot be had. NULL when out
 * of memory. Strings only, like the rest: for a command's environment. */
char *path_absolute(const char *path);

/* A new string holding the directory part of path ("." when none). */
char *path_dirname(const char *path);

/* True when s holds a control character (newline, tab, escape...). */
bool str_has_control(const char *s);

/* True when path has no ".." component and no control characters: safe to
 * append below a root without leaving it. */
bool path_is_confined(const char *path);

#endif
