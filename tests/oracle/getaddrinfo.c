/* The C library's own answer for one name, for svcprobe's oracle tests.
 *
 * Built twice by tests/libc_oracle.rs: with gcc against the system glibc and with
 * musl-gcc (Debian musl-tools) as a static musl program. It calls getaddrinfo exactly as
 * an application does (AF_UNSPEC, SOCK_STREAM) and prints one line:
 *   ok ADDR...          the addresses, in the library's order
 *   error EAI_NAME      the getaddrinfo error, by its symbolic name
 * followed by the time the call took, in milliseconds.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>

static const char *eai_name(int code)
{
	switch (code) {
	case EAI_NONAME: return "EAI_NONAME";
	case EAI_AGAIN: return "EAI_AGAIN";
	case EAI_FAIL: return "EAI_FAIL";
#ifdef EAI_NODATA
	case EAI_NODATA: return "EAI_NODATA";
#endif
	case EAI_SYSTEM: return "EAI_SYSTEM";
	case EAI_MEMORY: return "EAI_MEMORY";
	default: return "EAI_OTHER";
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct addrinfo hints, *res, *ai;
	char text[INET6_ADDRSTRLEN];
	double start;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s NAME\n", argv[0]);
		return 2;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	start = now_ms();
	rc = getaddrinfo(argv[1], NULL, &hints, &res);
	if (rc != 0) {
		printf("error %s %.1f\n", eai_name(rc), now_ms() - start);
		return 1;
	}
	printf("ok");
	for (ai = res; ai; ai = ai->ai_next) {
		const void *addr = ai->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		printf(" %s", inet_ntop(ai->ai_family, addr, text, sizeof text));
	}
	printf(" %.1f\n", now_ms() - start);
	freeaddrinfo(res);
	return 0;
}
