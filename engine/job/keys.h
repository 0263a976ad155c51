/*
 * The state directory's keys/: where a private key made on this machine
 * waits, 0600, from key generation until its certificate is assigned or
 * its request closes ("<server>-<request id>.key").
 */
#ifndef CF_KEYS_H
#define CF_KEYS_H

#include "engine/journal/journal.h"

#include <stddef.h>

/*
 * Removes every key in dir whose request is not open in jr, and the
 * temporary files of writes a killed run cut short. A run closes a request
 * and then removes its key; a kill between the two, or during the key's
 * write, would leave a key no request waits for. Run under the run lock,
 * before any job starts. Returns 0, or an error with msg (the run goes on:
 * the keys are only left for the next sweep).
 */
int keys_sweep(const char *dir, struct journal *jr, char *msg,
    size_t msgsz);

#endif
