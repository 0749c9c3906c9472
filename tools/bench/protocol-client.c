/*
 * protocol-client -- the machine's floor for `spamfilter-milter bench`: a C milter client that does
 * nothing but the protocol, the same transactions as bench (MAIL, RCPT, DATA, 5 headers, end of
 * headers, a 1 KB body, end of message, with the same macros), with TCP_NODELAY, TCP_QUICKACK and
 * no-reply packets batched with the next command. One blocking thread per connection. It honours
 * what the milter negotiates (steps left out, steps not answered), so it runs against any milter.
 * What it measures is what the machine and the milter allow; docs/performance.md compares the plug-in to it.
 *
 *   cc -O2 -Wall -Werror -o protocol-client protocol-client.c -lpthread
 *   ./protocol-client PORT CONNECTIONS TRANSACTIONS
 *
 * Prints one line: transactions/s, CPU (user + system) per transaction, transactions of 40 ms or
 * more, the slowest transaction.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* SMFIP_* steps the milter may leave out or leave unanswered (libmilter's mfdef.h). */
#define NOHELO 0x2
#define NOMAIL 0x4
#define NORCPT 0x8
#define NOBODY 0x10
#define NOHDRS 0x20
#define NOEOH 0x40
#define NR_HDR 0x80
#define NODATA 0x200
#define NR_CONN 0x1000
#define NR_HELO 0x2000
#define NR_MAIL 0x4000
#define NR_RCPT 0x8000
#define NR_DATA 0x10000
#define NR_EOH 0x40000
#define NR_BODY 0x80000
#define HDR_LEADSPC 0x100000

static int port, per_connection, stalls;
static double slowest_ms;
static pthread_mutex_t stats = PTHREAD_MUTEX_INITIALIZER;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Appends one packet: uint32 length (command byte included), command byte, payload. */
static int put(char *buffer, int at, char command, const char *payload, int length)
{
	uint32_t n = htonl(length + 1);
	memcpy(buffer + at, &n, 4);
	buffer[at + 4] = command;
	memcpy(buffer + at + 5, payload, length);
	return at + 5 + length;
}

static void read_exactly(int fd, char *into, int count)
{
	while (count > 0) {
		int got = read(fd, into, count);
		if (got <= 0) {
			fprintf(stderr, "protocol-client: the milter closed the connection\n");
			exit(1);
		}
		into += got;
		count -= got;
	}
}

/* Reads one reply packet; acknowledges at once so the milter's next packet never waits on our delayed ACK. */
static char read_reply(int fd, uint32_t *payload_word)
{
	static __thread char payload[1024 * 1024];
	char header[5];
	uint32_t length;
	int one = 1;

	read_exactly(fd, header, 5);
	memcpy(&length, header, 4);
	length = ntohl(length);
	if (length < 1 || length > sizeof payload) {
		fprintf(stderr, "protocol-client: bad packet length %u\n", length);
		exit(1);
	}
	read_exactly(fd, payload, length - 1);
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	if (payload_word != NULL && length >= 13)
		memcpy(payload_word, payload + 8, 4); /* OPTNEG: version, actions, protocol */
	return header[4];
}

/* Sends what is buffered; when the step is answered, waits for the answer (modifications first at end of message). */
static void send_buffer(int fd, char *buffer, int length, int answered)
{
	if (write(fd, buffer, length) != length) {
		perror("protocol-client: write");
		exit(1);
	}
	while (answered) {
		char reply = read_reply(fd, NULL);
		if (strchr("acdrtys", reply) != NULL)
			break; /* a decision; anything else (h, i, m, p, q, ...) precedes one */
	}
}

static void *connection(void *unused)
{
	static const char *headers[5][2] = {
		{ "From", " Bench Sender <bench-sender@example.com>" }, { "To", " bench-recipient@example.net" },
		{ "Subject", " SpamFilterMilter benchmark message" }, { "Message-ID", " <bench@example.com>" },
		{ "Date", " Sat, 21 Nov 2026 12:00:00 +0000" },
	};
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	char buffer[8192], body[1024], packet[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, at;
	uint32_t protocol = 0;

	(void) unused;
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *) &address, sizeof address) != 0) {
		perror("protocol-client: connect");
		exit(1);
	}
	for (int i = 0; i < (int) sizeof body; i++)
		body[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : 'x';

	/* OPTNEG: version 6, every action, every step and no-reply flag offered (as the plug-in offers). */
	char offer[12] = { 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff };
	if (write(fd, buffer, put(buffer, 0, 'O', offer, 12)) < 0)
		exit(1);
	read_reply(fd, &protocol);
	protocol = ntohl(protocol);
	if (getenv("PROTOCOL_CLIENT_DEBUG") != NULL)
		fprintf(stderr, "negotiated protocol 0x%x\n", protocol);

	char client[] = "bench.example.net\0" "4" "\x9c\x40" "127.0.0.1";
	static const char connect_macros[] = "Cj\0mx.example.com\0{client_addr}\0" "127.0.0.1";
	static const char mail_macros[] = "M{mail_addr}\0bench-sender@example.com\0{mail_host}\0example.com";
	static const char rcpt_macros[] = "R{rcpt_addr}\0bench-recipient@example.net\0{rcpt_host}\0example.net";
	at = put(buffer, 0, 'D', connect_macros, sizeof connect_macros); /* sizeof: the last value's NUL included */
	send_buffer(fd, buffer, put(buffer, at, 'C', client, sizeof client), !(protocol & NR_CONN));
	if (!(protocol & NOHELO))
		send_buffer(fd, buffer, put(buffer, 0, 'H', "bench.example.net", 18), !(protocol & NR_HELO));

	for (int t = 0; t < per_connection; t++) {
		double started = now_ms();

		at = put(buffer, 0, 'D', mail_macros, sizeof mail_macros);
		if (!(protocol & NOMAIL))
			send_buffer(fd, buffer, put(buffer, at, 'M', "<bench-sender@example.com>", 27), !(protocol & NR_MAIL));
		at = put(buffer, 0, 'D', rcpt_macros, sizeof rcpt_macros);
		if (!(protocol & NORCPT))
			send_buffer(fd, buffer, put(buffer, at, 'R', "<bench-recipient@example.net>", 30), !(protocol & NR_RCPT));
		if (!(protocol & NODATA))
			send_buffer(fd, buffer, put(buffer, 0, 'T', "", 0), !(protocol & NR_DATA));
		at = 0;
		for (int h = 0; h < 5 && !(protocol & NOHDRS); h++) {
			/* The value loses its leading space unless the milter asked for it (HDR_LEADSPC); NUL-terminated. */
			const char *text = headers[h][1] + ((protocol & HDR_LEADSPC) ? 0 : 1);
			int name = strlen(headers[h][0]) + 1, value = strlen(text) + 1;
			memcpy(packet, headers[h][0], name);
			memcpy(packet + name, text, value);
			at = put(buffer, at, 'L', packet, name + value);
			if (!(protocol & NR_HDR)) {
				send_buffer(fd, buffer, at, 1);
				at = 0;
			}
		}
		if (!(protocol & NOEOH)) {
			send_buffer(fd, buffer, put(buffer, at, 'N', "", 0), !(protocol & NR_EOH));
			at = 0;
		}
		if (!(protocol & NOBODY)) {
			send_buffer(fd, buffer, put(buffer, at, 'B', body, sizeof body), !(protocol & NR_BODY));
			at = 0;
		}
		send_buffer(fd, buffer, put(buffer, at, 'E', "", 0), 1);

		double took = now_ms() - started;
		pthread_mutex_lock(&stats);
		stalls += took >= 40;
		slowest_ms = took > slowest_ms ? took : slowest_ms;
		pthread_mutex_unlock(&stats);
	}
	send_buffer(fd, buffer, put(buffer, 0, 'Q', "", 0), 0);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[256];
	struct timespec t0, t1;
	struct rusage r0, r1;
	int connections;

	if (argc != 4 || (port = atoi(argv[1])) <= 0 || (connections = atoi(argv[2])) <= 0 || connections > 256
	    || (per_connection = atoi(argv[3]) / connections) <= 0) {
		fprintf(stderr, "usage: %s PORT CONNECTIONS TRANSACTIONS\n", argv[0]);
		return 2;
	}
	getrusage(RUSAGE_SELF, &r0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < connections; i++)
		pthread_create(&threads[i], NULL, connection, NULL);
	for (int i = 0; i < connections; i++)
		pthread_join(threads[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &r1);

	double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec)
		+ ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / 1e6;
	int total = per_connection * connections;
	printf("{\"transactions\": %d, \"transactionsPerSecond\": %.1f, \"cpuMicrosecondsPerTransaction\": %.1f, "
	       "\"stallsOver40ms\": %d, \"maxMs\": %.3f}\n", total, total / seconds, cpu * 1e6 / total, stalls, slowest_ms);
	return 0;
}
