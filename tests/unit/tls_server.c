/* The engine test's TLS server: one thread, one handshake at a time. */
#include "tests/unit/tls_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void serve_one(struct tls_server *s, int c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl = NULL;

	/* No files (nothing assigned yet): the client sees a closed
	 * connection, as with a server that is not up. */
	if (ctx != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx, s->cert) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) == 1 &&
	    (ssl = SSL_new(ctx)) != NULL) {
		SSL_set_fd(ssl, c);
		if (SSL_accept(ssl) == 1)
			SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(c);
}

static void *run(void *arg)
{
	struct tls_server *s = arg;
	int c;

	while (!s->stop) {
		if ((c = accept(s->fd, NULL, NULL)) < 0)
			continue;
		if (s->stop) {
			close(c);
			break;
		}
		serve_one(s, c);
	}
	return NULL;
}

int tls_server_start(struct tls_server *s, const char *cert,
    const char *key)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;

	memset(s, 0, sizeof *s);
	snprintf(s->cert, sizeof s->cert, "%s", cert);
	snprintf(s->key, sizeof s->key, "%s", key);
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(s->fd, 16) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &len) != 0 ||
	    pthread_create(&s->thread, NULL, run, s) != 0) {
		close(s->fd);
		return -1;
	}
	s->port = ntohs(a.sin_port);
	return 0;
}

void tls_server_stop(struct tls_server *s)
{
	int c;
	struct sockaddr_in a;

	s->stop = true;
	/* Wake the accept with a connection of our own. */
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)s->port);
	if ((c = socket(AF_INET, SOCK_STREAM, 0)) >= 0) {
		connect(c, (struct sockaddr *)&a, sizeof a);
		close(c);
	}
	pthread_join(s->thread, NULL);
	close(s->fd);
}
