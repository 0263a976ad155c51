/*
 * A TLS server on 127.0.0.1 for the engine test's staged rollout: a thread
 * that, for each connection, loads the certificate and key files it was
 * given (as nginx does on reload) and completes a handshake. Test code
 * only; the product never serves TLS.
 */
#ifndef CF_TEST_TLS_SERVER_H
#define CF_TEST_TLS_SERVER_H

#include <pthread.h>
#include <stdbool.h>

struct tls_server {
	int fd;                     /* listening socket */
	int port;
	char cert[512];             /* read at each connection */
	char key[512];
	pthread_t thread;
	volatile bool stop;
};

/* Listens on an unused port of 127.0.0.1; 0 or -1. */
int tls_server_start(struct tls_server *s, const char *cert,
    const char *key);

void tls_server_stop(struct tls_server *s);

#endif
