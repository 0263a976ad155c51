/*
 * baseline: "the limit" for the benchmark. One thread, libcrypto and plain
 * POSIX file calls, nothing else: for each of N servers it does the work
 * certfleet does for one local server, as directly as we can write it.
 *
 *     baseline [--no-fsync] N OUTDIR ISSUING_CERT ISSUING_KEY
 *
 * Per server i (0 <= i < N, name srvNNNNN = "srv%05d"):
 *   - generates an EC P-256 key;
 *   - makes a CSR for "CN=srvNNNNN.bench.test, O=bench" with the SAN
 *     DNS:srvNNNNN.bench.test, signed with SHA-256;
 *   - as the CA: verifies the CSR's signature (proof of possession) and
 *     signs a certificate with the issuing CA's key (SHA-384 for P-384):
 *     random 127-bit serial, 90 days, basicConstraints critical CA:FALSE,
 *     keyUsage critical digitalSignature, SKI, AKI, the SAN, EKU serverAuth
 *     and clientAuth - the extensions engine/ca/ca_local.c puts on a leaf;
 *   - writes OUTDIR/srvNNNNN/certs/default.key (PKCS#8 PEM, 0600) and
 *     default.pem (leaf then issuing CA, 0644), creating the two
 *     directories if missing. Each file: open(O_CREAT|O_EXCL|O_WRONLY) of a
 *     temporary name with its final mode, write, fsync, close, rename over
 *     the final name, fsync the directory - what a safe tool must do, and
 *     what certfleet does for every assignment. --no-fsync drops both
 *     fsyncs (for a look at how much of the time is the disk).
 *
 * It prints one summary line to stdout and exits 0, or prints what failed
 * to stderr and exits 1. It never prints key material, never uses threads
 * and never follows a symlink where it writes.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DAYS 90
#define BACKDATE (5 * 60)

struct ca {
	X509 *cert;
	EVP_PKEY *key;
	const EVP_MD *md;
	char *pem;                  /* the issuing certificate, PEM */
	size_t pemlen;
};

static bool do_fsync = true;

static void die(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "baseline: %s: %s\n", what, buf);
	} else if (errno != 0) {
		fprintf(stderr, "baseline: %s: %s\n", what, strerror(errno));
	} else {
		fprintf(stderr, "baseline: %s\n", what);
	}
	exit(1);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole of a BIO's memory as a malloc'd string; frees the BIO. */
static char *bio_take(BIO *b, size_t *len)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		die("out of memory");
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	return s;
}

static void ca_load(struct ca *ca, const char *cert_path, const char *key_path)
{
	BIO *b;
	FILE *fp;
	int bits;

	errno = 0;
	if ((fp = fopen(cert_path, "r")) == NULL)
		die(cert_path);
	ca->cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (ca->cert == NULL)
		die(cert_path);
	if ((fp = fopen(key_path, "r")) == NULL)
		die(key_path);
	ca->key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (ca->key == NULL)
		die(key_path);
	if (X509_check_private_key(ca->cert, ca->key) != 1)
		die("the issuing key does not match its certificate");
	bits = EVP_PKEY_get_bits(ca->key);
	ca->md = bits > 384 ? EVP_sha512() : bits > 256 ? EVP_sha384() :
	    EVP_sha256();
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(b, ca->cert) != 1)
		die("cannot write the issuing certificate as PEM");
	ca->pem = bio_take(b, &ca->pemlen);
}

static void ca_release(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->pem);
}

/* Adds one extension in openssl.cnf syntax to x. */
static void add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);

	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		die("cannot add an extension");
	X509_EXTENSION_free(ext);
}

static GENERAL_NAMES *dns_san(const char *host)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gens == NULL || gn == NULL || s == NULL ||
	    ASN1_STRING_set(s, host, -1) != 1)
		die("out of memory");
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	if (sk_GENERAL_NAME_push(gens, gn) == 0)
		die("out of memory");
	return gens;
}

/* The server's CSR: subject, SAN request, signed by key with SHA-256. */
static X509_REQ *make_csr(EVP_PKEY *key, const char *host)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	GENERAL_NAMES *gens = dns_san(host);
	X509_EXTENSION *ext;

	if (req == NULL || name == NULL || exts == NULL)
		die("out of memory");
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)host, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"bench", -1, -1, 0) != 1 ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1)
		die("cannot build the CSR");
	if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) == 0 ||
	    X509_REQ_add_extensions(req, exts) != 1)
		die("cannot add the SAN to the CSR");
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		die("cannot sign the CSR");
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	return req;
}

static void set_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			die("RAND_bytes");
		b[0] &= 0x7f;
		BN_free(bn);
		if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
			die("out of memory");
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		die("cannot set the serial");
	BN_free(bn);
}

/* The CA's side: check the CSR, then sign a leaf for it. */
static X509 *sign_csr(const struct ca *ca, X509_REQ *req, const char *host,
    time_t now)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	GENERAL_NAMES *gens;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	X509V3_CTX ctx;
	X509 *x = X509_new();

	if (pub == NULL || X509_REQ_verify(req, pub) != 1)
		die("the CSR does not verify");
	if (x == NULL || eku == NULL)
		die("out of memory");
	if (X509_set_version(x, 2) != 1)
		die("cannot build the certificate");
	set_random_serial(x);
	if (X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_set_subject_name(x, X509_REQ_get_subject_name(req)) != 1 ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE, &now) ==
	    NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), DAYS, 0, &now) == NULL ||
	    X509_set_pubkey(x, pub) != 1)
		die("cannot build the certificate");
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	add_conf_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
	add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash");
	add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	gens = dns_san(host);
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1)
		die("cannot add the SAN");
	GENERAL_NAMES_free(gens);
	if (sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) == 0 ||
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) == 0 ||
	    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0,
	    X509V3_ADD_DEFAULT) != 1)
		die("cannot add the EKU");
	sk_ASN1_OBJECT_free(eku);
	if (X509_sign(x, ca->key, ca->md) <= 0)
		die("cannot sign the certificate");
	return x;
}

static void make_dir(const char *path, mode_t mode)
{
	errno = 0;
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		die(path);
}

/*
 * Writes dir/name from two buffers (b may be NULL) via dir/.name.tmp:
 * O_EXCL create with the final mode, write, fsync, rename, fsync dirfd.
 */
static void write_atomic(int dirfd, const char *dir, const char *name,
    mode_t mode, const char *a, size_t alen, const char *b, size_t blen)
{
	char tmp[4096], path[4096];
	const char *parts[2] = { a, b };
	size_t lens[2] = { alen, b ? blen : 0 };
	ssize_t w;
	size_t off;
	int fd, k;

	errno = 0;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >=
	    (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		die("path too long");
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		die(tmp);
	for (k = 0; k < 2; k++) {
		for (off = 0; off < lens[k]; off += (size_t)w) {
			w = write(fd, parts[k] + off, lens[k] - off);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w < 0)
				die(tmp);
		}
	}
	if (do_fsync && fsync(fd) != 0)
		die(tmp);
	if (close(fd) != 0)
		die(tmp);
	if (rename(tmp, path) != 0)
		die(path);
	if (do_fsync && fsync(dirfd) != 0)
		die(dir);
}

static void one_server(const struct ca *ca, const char *outdir, int i)
{
	char host[64], name[16], sdir[4096], cdir[4096];
	X509_REQ *req;
	EVP_PKEY *key;
	BIO *b;
	X509 *x;
	char *keypem, *certpem;
	size_t keylen, certlen;
	int dirfd;

	if (snprintf(name, sizeof(name), "srv%05d", i) >= (int)sizeof(name) ||
	    snprintf(host, sizeof(host), "%s.bench.test", name) >=
	    (int)sizeof(host) ||
	    snprintf(sdir, sizeof(sdir), "%s/%s", outdir, name) >=
	    (int)sizeof(sdir) ||
	    snprintf(cdir, sizeof(cdir), "%s/certs", sdir) >=
	    (int)sizeof(cdir))
		die("path too long");

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		die("cannot generate a P-256 key");
	req = make_csr(key, host);
	x = sign_csr(ca, req, host, time(NULL));

	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
		die("cannot write the key as PEM");
	keypem = bio_take(b, &keylen);
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(b, x) != 1)
		die("cannot write the certificate as PEM");
	certpem = bio_take(b, &certlen);

	make_dir(sdir, 0755);
	make_dir(cdir, 0755);
	errno = 0;
	if ((dirfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die(cdir);
	write_atomic(dirfd, cdir, "default.key", 0600, keypem, keylen,
	    NULL, 0);
	write_atomic(dirfd, cdir, "default.pem", 0644, certpem, certlen,
	    ca->pem, ca->pemlen);
	close(dirfd);

	OPENSSL_cleanse(keypem, keylen);
	free(keypem);
	free(certpem);
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
}

static void usage(void)
{
	fprintf(stderr, "usage: baseline [--no-fsync] N OUTDIR ISSUING_CERT "
	    "ISSUING_KEY\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct ca ca = { 0 };
	double t0, dt;
	char *end;
	long n;
	int argi = 1, i;

	if (argi < argc && strcmp(argv[argi], "--no-fsync") == 0) {
		do_fsync = false;
		argi++;
	}
	if (argc - argi != 4)
		usage();
	n = strtol(argv[argi], &end, 10);
	if (*argv[argi] == '\0' || *end != '\0' || n < 1 || n > 100000)
		usage();

	ca_load(&ca, argv[argi + 2], argv[argi + 3]);
	make_dir(argv[argi + 1], 0755);
	t0 = now_seconds();
	for (i = 0; i < (int)n; i++)
		one_server(&ca, argv[argi + 1], i);
	dt = now_seconds() - t0;
	printf("baseline: %ld servers in %.3f s (%.1f servers/s), fsync %s\n",
	    n, dt, (double)n / dt, do_fsync ? "on" : "off");
	ca_release(&ca);
	return 0;
}
