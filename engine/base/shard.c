/*
 * Shards (see shard.h). The value is parsed strictly, one spelling per
 * shard, because it names a directory: "01/4" and "1/4" must not be two
 * shards' state for the same servers.
 */
#include "engine/base/shard.h"
#include "engine/base/err.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <string.h>

/* A decimal number without sign or leading zero, 1 to SHARD_MAX, ending
 * at stop; *end set past it. False when s does not start with one. */
static bool number(const char *s, char stop, unsigned *out,
    const char **end)
{
	unsigned v = 0;
	const char *p;

	if (*s < '1' || *s > '9')
		return false;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > SHARD_MAX)
			return false;
	}
	*out = v;
	*end = p;
	return *p == stop;
}

int shard_parse(const char *s, struct shard *out, char *msg, size_t msgsz)
{
	const char *p;
	unsigned k, n;

	out->k = out->n = 0;
	if (!number(s, '/', &k, &p) || !number(p + 1, '\0', &n, &p))
		return cf_error(msg, msgsz, CF_EINVAL, "--shard '%s' must be "
		    "K/N: two whole numbers from 1 to %d, without sign or "
		    "leading zero, as in 1/4", s, SHARD_MAX);
	if (k > n)
		return cf_error(msg, msgsz, CF_EINVAL, "--shard '%s': shard "
		    "%u of %u does not exist (K goes from 1 to N)", s, k, n);
	out->k = k;
	out->n = n;
	return 0;
}

uint64_t shard_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

bool shard_has(const struct shard *sh, const char *name)
{
	return sh->n == 0 || shard_hash(name) % sh->n == sh->k - 1;
}

char *shard_state_dir(const char *state_dir, const struct shard *sh)
{
	if (sh->n == 0)
		return strdup(state_dir);
	return cf_asprintf("%s/%s/%u-of-%u", state_dir, SHARD_PARENT, sh->k,
	    sh->n);
}

bool shard_from_dirname(const char *name, struct shard *out)
{
	const char *p;
	unsigned k, n;

	if (!number(name, '-', &k, &p) || strncmp(p, "-of-", 4) != 0 ||
	    !number(p + 4, '\0', &n, &p) || k > n)
		return false;
	out->k = k;
	out->n = n;
	return true;
}
