/*
 * --shard K/N: which servers one of N independent controllers (or N
 * processes on one) works on, and where that shard keeps its state. A
 * server belongs to shard K when FNV-1a 64 of its name's bytes, modulo N,
 * is K-1: the name alone decides, never the inventory's order, so every
 * shard agrees without talking to the others. Strings only: nothing here
 * touches the file system.
 */
#ifndef CF_SHARD_H
#define CF_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most shards a fleet can be cut into. */
#define SHARD_MAX 10000

/* Shard k of n (1 <= k <= n); n == 0 is no shard: the whole fleet. */
struct shard {
	unsigned k;
	unsigned n;
};

/*
 * Parses "K/N" (decimal, no sign, no leading zero, no blank; 1 <= K <= N
 * <= SHARD_MAX) into *out. Returns 0, or CF_EINVAL with the reason in msg
 * ("--shard 'x': ...").
 */
int shard_parse(const char *s, struct shard *out, char *msg, size_t msgsz);

/* FNV-1a 64 of the NUL-terminated s: offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3, one byte at a time. */
uint64_t shard_hash(const char *s);

/* True when server name belongs to sh; every name belongs to no shard. */
bool shard_has(const struct shard *sh, const char *name);

/* Where shard directories live below the state directory. */
#define SHARD_PARENT "shards"

/*
 * The directory of sh's lock, journal and keys, as a new string:
 * "STATE_DIR/shards/K-of-N", or state_dir itself for no shard (the files
 * of an unsharded run stay where they always were). NULL when out of
 * memory; the caller frees.
 */
char *shard_state_dir(const char *state_dir, const struct shard *sh);

/* Parses a shard directory's name ("K-of-N", exactly as shard_state_dir
 * writes it) into *out; false for any other name. */
bool shard_from_dirname(const char *name, struct shard *out);

#endif
