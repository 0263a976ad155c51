/*
 * Reading a libconfig file with messages a user can act on. libconfig 1.5
 * exits the whole process on a directory ("input in flex scanner failed"),
 * calls a missing @include a syntax error and a repeated key "duplicate
 * setting name" without the name; this layer says which file, which key.
 */
#ifndef CF_CFG_READ_H
#define CF_CFG_READ_H

#include "inventory/diag.h"

#include <libconfig.h>
#include <stdbool.h>

/*
 * Reads path into cfg (initialised by the caller, with its include
 * directory set when @include is to be looked up elsewhere than the working
 * directory). path and every file it @includes must be readable regular
 * files; what names path in messages ("fleet file", "request template").
 * A path that cannot be read is reported at ref_file:ref_line, or at path
 * itself when ref_file is NULL; every other problem at its own FILE:LINE.
 * Returns true when cfg holds the file; otherwise the problems are in d.
 */
bool cfg_read(config_t *cfg, const char *path, const char *what,
    const char *ref_file, int ref_line, struct diags *d);

#endif
