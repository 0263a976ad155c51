/*
 * The cache of proven CA signatures (sigcache.h). The verify function set
 * on a context replaces only the part of X509_verify_cert that OpenSSL
 * calls ctx->verify: signatures and validity times, after the chain is
 * built and its extensions, trust and revocation checked, and before name
 * constraints and policies (x509_vfy.c, verify_chain). It accepts a chain
 * only in the plain case (self-issued top, every link's key usage allowing
 * it, every certificate valid now, the leaf's signature good) and hands
 * every other case to OpenSSL's internal_verify unchanged.
 */
#include "engine/chain/sigcache.h"
#include "engine/base/crypto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

struct link {
	unsigned char subject[32];  /* SHA-256 of the DER */
	unsigned char issuer[32];
};

static struct link links[SIGCACHE_MAX];
static atomic_size_t nlinks;    /* written under lock; read by count */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* OpenSSL's own verify function (internal_verify), found once. */
static X509_STORE_CTX_verify_fn inner;
static pthread_once_t inner_once = PTHREAD_ONCE_INIT;

static void find_inner(void)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE *store = X509_STORE_new();

	if (ctx != NULL && store != NULL &&
	    X509_STORE_CTX_init(ctx, store, NULL, NULL))
		inner = X509_STORE_CTX_get_verify(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

static bool key_of(X509 *subject, X509 *issuer, struct link *k)
{
	unsigned int n;

	return X509_digest(subject, crypto_sha256(), k->subject, &n) == 1 &&
	    X509_digest(issuer, crypto_sha256(), k->issuer, &n) == 1;
}

static bool known(const struct link *k)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nlinks && !found; i++)
		found = memcmp(&links[i], k, sizeof *k) == 0;
	pthread_mutex_unlock(&lock);
	return found;
}

static void add(const struct link *k)
{
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nlinks; i++)
		if (memcmp(&links[i], k, sizeof *k) == 0)
			break;
	if (i == nlinks && nlinks < SIGCACHE_MAX) {
		links[i] = *k;
		atomic_store(&nlinks, i + 1);
	}
	pthread_mutex_unlock(&lock);
}

/* Whether issuer's key usage lets it sign subject (OpenSSL's
 * ossl_x509_signing_allowed). */
static bool signing_allowed(X509 *issuer, X509 *subject)
{
	uint32_t need = (X509_get_extension_flags(subject) & EXFLAG_PROXY) ?
	    KU_DIGITAL_SIGNATURE : KU_KEY_CERT_SIGN;

	return !(X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) ||
	    (X509_get_key_usage(issuer) & need) != 0;
}

/* Whether x is valid at the context's time, as the verifier counts. */
static bool valid_now(X509_STORE_CTX *ctx, X509 *x)
{
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
	unsigned long flags = X509_VERIFY_PARAM_get_flags(p);
	time_t t = X509_VERIFY_PARAM_get_time(p), *at;

	if (flags & X509_V_FLAG_NO_CHECK_TIME)
		return true;
	at = (flags & X509_V_FLAG_USE_CHECK_TIME) ? &t : NULL;
	return X509_cmp_time(X509_get0_notBefore(x), at) < 0 &&
	    X509_cmp_time(X509_get0_notAfter(x), at) > 0;
}

/* The plain case, all but the leaf's signature from the cache: 1 when the
 * chain passes, 0 when OpenSSL must decide. */
static int quick(X509_STORE_CTX *ctx, STACK_OF(X509) *chain)
{
	int n = sk_X509_num(chain), i;
	X509 *top = sk_X509_value(chain, n - 1);
	struct link k;

	if (n < 2 || (X509_VERIFY_PARAM_get_flags(X509_STORE_CTX_get0_param(
	    ctx)) & (X509_V_FLAG_PARTIAL_CHAIN |
	    X509_V_FLAG_CHECK_SS_SIGNATURE)) != 0 ||
	    X509_check_issued(top, top) != X509_V_OK)
		return 0;
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);

		if (!valid_now(ctx, x))
			return 0;
		if (i + 1 < n && !signing_allowed(sk_X509_value(chain, i + 1),
		    x))
			return 0;
		/* Links above the leaf: proven before, or OpenSSL proves. */
		if (i > 0 && i + 1 < n && (!key_of(x, sk_X509_value(chain,
		    i + 1), &k) || !known(&k)))
			return 0;
	}
	ERR_set_mark();
	i = X509_verify(sk_X509_value(chain, 0),
	    X509_get0_pubkey(sk_X509_value(chain, 1))) == 1;
	ERR_pop_to_mark();
	if (!i)
		return 0;
	X509_STORE_CTX_set_current_cert(ctx, sk_X509_value(chain, 0));
	X509_STORE_CTX_set_error_depth(ctx, 0);
	return 1;
}

static int cached_verify(X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	struct link k;
	int n = sk_X509_num(chain), i, ok;

	if (quick(ctx, chain))
		return 1;
	ok = inner(ctx);
	/* Every signature on the chain is proven: keep its CA links. */
	if (ok == 1 && X509_STORE_CTX_get_error(ctx) == X509_V_OK)
		for (i = 1; i + 1 < n; i++)
			if (key_of(sk_X509_value(chain, i),
			    sk_X509_value(chain, i + 1), &k))
				add(&k);
	return ok;
}

void sigcache_attach(X509_STORE_CTX *ctx)
{
	pthread_once(&inner_once, find_inner);
	/* A store with a verify function of its own keeps it. */
	if (inner != NULL && X509_STORE_CTX_get_verify(ctx) == inner)
		X509_STORE_CTX_set_verify(ctx, cached_verify);
}

int sigcache_self_signed(X509 *x)
{
	struct link k;
	int r = X509_self_signed(x, 0);

	if (r != 1)
		return r;
	if (key_of(x, x, &k) && known(&k))
		return 1;
	if ((r = X509_self_signed(x, 1)) == 1 && X509_check_ca(x) != 0 &&
	    key_of(x, x, &k))
		add(&k);
	return r;
}

size_t sigcache_count(void)
{
	return atomic_load(&nlinks);
}
