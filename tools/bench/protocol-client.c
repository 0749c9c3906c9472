/*
 * protocol-client -- the machine's floor for `spamfilter-milter bench`: a C milter client that does
 * nothing but the protocol, the same transactions as bench (MAIL, RCPT, DATA, 5 headers, end of
 * headers, a 1 KB body, end of message, with the same macros: the queue ID from DATA on, with DATA,
 * before each header, end of headers, each body packet and end of message, as Postfix and the plug-in
 * send it), with TCP_NODELAY, TCP_QUICKACK where more packets follow and no-reply packets batched with
 * the next command. One blocking thread per connection, each taking the next transaction until none is
 * left (as bench does).
 * It honours what the milter negotiates (steps left out, steps not answered), so it runs against any milter.
 * What it measures is what the machine and the milter allow; docs/performance.md compares the plug-in to it.
 *
 *   cc -O2 -Wall -Werror -o protocol-client protocol-client.c -lpthread
 *   ./protocol-client PORT CONNECTIONS TRANSACTIONS [MESSAGES_PER_CONNECTION]
 *   ./protocol-client /path/to/milter.sock CONNECTIONS TRANSACTIONS     (a UNIX-domain socket)
 *
 * With MESSAGES_PER_CONNECTION (1 = a fresh connection per message, as an MTA without a pool opens
 * one per SMTP session) each connection is closed after that many messages and a new one opened
 * (connect, OPTNEG, connect and HELO events); the time for that counts in the message's.
 * With PROTOCOL_CLIENT_SOCKS=PORT each connection goes through the SOCKS5 server on 127.0.0.1:PORT
 * (no authentication), as the plug-in's SOCKS_HOST does.
 *
 * Prints one JSON line: transactions/s, CPU (user + system) per transaction, latency percentiles,
 * transactions of 40 ms or more, the slowest transaction, and the measured run's start (CLOCK_MONOTONIC
 * seconds) and length, the window a profiler's samples are read over (run.sh PERF=1).
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
#include <sys/un.h>
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

static int port, transactions, taken, per_session, stalls, fewest = -1, most;
static const char *unix_path;
static double slowest_ms, *latencies;
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

/* A decision ends the answer to a step; anything else (h, i, m, p, q, ...) precedes one. */
static int is_decision(char reply)
{
	return reply != 0 && strchr("acdrtys", reply) != NULL;
}

/*
 * Reads one reply packet. After a packet that more will follow (an edit, progress: anything but a decision) it
 * acknowledges at once, so that the milter's next packet never waits on our delayed ACK; after a decision our next
 * command carries the ACK, as the plug-in does (MilterChannel.MoreToCome). Acknowledging every reply sends a pure
 * ACK segment through loopback each time: measured, 17-50 us of this client's CPU per transaction.
 */
static char read_reply(int fd, uint32_t *payload_word)
{
	enum { largest = 1024 * 1024 };
	static __thread char *payload; /* on the heap: a thread's stack is kept small */
	char header[5];
	uint32_t length;
	int one = 1;

	if (payload == NULL && (payload = malloc(largest)) == NULL)
		exit(1);
	read_exactly(fd, header, 5);
	memcpy(&length, header, 4);
	length = ntohl(length);
	if (length < 1 || length > largest) {
		fprintf(stderr, "protocol-client: bad packet length %u\n", length);
		exit(1);
	}
	read_exactly(fd, payload, length - 1);
	if (!is_decision(header[4]))
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	if (payload_word != NULL && length >= 13)
		memcpy(payload_word, payload + 8, 4); /* OPTNEG: version, actions, protocol */
	return header[4];
}

/*
 * PROTOCOL_CLIENT_TOUCH=BYTES: before each command, write one byte in every cache line (or every
 * PROTOCOL_CLIENT_TOUCH_STRIDE bytes) of a buffer of that size, the same buffer each time: a client whose work between a
 * reply and its next command keeps that much memory in use, as a managed client's code and data do. Unset, nothing is
 * touched. docs/performance.md, "The milter behind each client, counted over the measured run".
 */
static void touch_footprint(void)
{
	static __thread char *buffer;
	static __thread long bytes = -1, stride = 64;

	if (bytes < 0) {
		const char *setting = getenv("PROTOCOL_CLIENT_TOUCH"), *step = getenv("PROTOCOL_CLIENT_TOUCH_STRIDE");
		bytes = setting != NULL ? atol(setting) : 0;
		stride = step != NULL && atol(step) > 0 ? atol(step) : 64;
		if (bytes > 0 && (buffer = calloc(1, bytes)) == NULL)
			exit(1);
	}
	for (long i = 0; i < bytes; i += stride)
		buffer[i]++;
}

/* Sends what is buffered; when the step is answered, waits for the answer (modifications first at end of message). */
static void send_buffer(int fd, char *buffer, int length, int answered)
{
	touch_footprint();
	if (write(fd, buffer, length) != length) {
		perror("protocol-client: write");
		exit(1);
	}
	while (answered) {
		if (is_decision(read_reply(fd, NULL)))
			break;
	}
}

/* A connected socket to the milter (TCP with TCP_NODELAY, or the UNIX-domain socket). */
static int dial(void)
{
	int fd, one = 1;

	if (unix_path != NULL) {
		struct sockaddr_un address = { .sun_family = AF_UNIX };
		strncpy(address.sun_path, unix_path, sizeof address.sun_path - 1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *) &address, sizeof address) != 0) {
			perror("protocol-client: connect");
			exit(1);
		}
		return fd;
	}
	const char *socks = getenv("PROTOCOL_CLIENT_SOCKS");
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(socks != NULL ? atoi(socks) : port) };
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *) &address, sizeof address) != 0) {
		perror("protocol-client: connect");
		exit(1);
	}
	if (socks != NULL) {
		/* RFC 1928: no authentication, then CONNECT 127.0.0.1:port; both answers read whole. */
		unsigned char hello[3] = { 5, 1, 0 }, request[10] = { 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff }, reply[10];
		if (write(fd, hello, 3) != 3 || (read_exactly(fd, (char *) reply, 2), reply[1] != 0)
		    || write(fd, request, 10) != 10 || (read_exactly(fd, (char *) reply, 10), reply[1] != 0)) {
			fprintf(stderr, "protocol-client: the SOCKS server refused\n");
			exit(1);
		}
	}
	return fd;
}

static void *connection(void *unused)
{
	static const char *headers[5][2] = {
		{ "From", " Bench Sender <bench-sender@example.com>" }, { "To", " bench-recipient@example.net" },
		{ "Subject", " SpamFilterMilter benchmark message" }, { "Message-ID", " <bench@example.com>" },
		{ "Date", " Sat, 21 Nov 2026 12:00:00 +0000" },
	};
	char buffer[8192], body[1024], packet[512];
	int fd = -1, at;
	uint32_t protocol = 0;

	(void) unused;
	for (int i = 0; i < (int) sizeof body; i++)
		body[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : 'x';
	body[sizeof body - 2] = '\r'; /* its last line ended, as bench's (the plug-in sends a milter a final CRLF) */
	body[sizeof body - 1] = '\n';

	char client[] = "bench.example.net\0" "4" "\x9c\x40" "127.0.0.1";
	static const char connect_macros[] = "Cj\0mx.example.com\0{client_addr}\0" "127.0.0.1";
	static const char mail_macros[] = "M{mail_addr}\0bench-sender@example.com\0{mail_host}\0example.com";
	static const char rcpt_macros[] = "R{rcpt_addr}\0bench-recipient@example.net\0{rcpt_host}\0example.net";
	/* Postfix's milter_data_macros, milter_end_of_header_macros and milter_end_of_data_macros all hold i,
	 * sent before each of those steps (the end-of-header ones before each header too, the end-of-data ones
	 * before each body packet): a third of the packets of a transaction, which the milter parses. */
	char queue_macro[] = "Ti\0" "4F2A1B3C5D6E70";
#define QUEUE_MACRO(at, stage) (queue_macro[0] = (stage), put(buffer, (at), 'D', queue_macro, sizeof queue_macro))

	/* Each connection takes the next transaction until none is left, as bench does: a stalled session holds up its
	 * own message, not a share of the run fixed in advance. With MESSAGES_PER_CONNECTION, a session's worth at a time. */
	int batch = per_session > 0 ? per_session : 1, ran = 0;
	for (int t = 0, end = 0;; t++) {
		if (t == end) {
			t = __atomic_fetch_add(&taken, batch, __ATOMIC_RELAXED);
			if (t >= transactions)
				break;
			end = t + batch < transactions ? t + batch : transactions;
		}
		double started = now_ms();

		if (fd < 0) {
			fd = dial();
			/* OPTNEG: version 6, every action, every step and no-reply flag offered (as the plug-in offers). */
			char offer[12] = { 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff };
			if (write(fd, buffer, put(buffer, 0, 'O', offer, 12)) < 0)
				exit(1);
			read_reply(fd, &protocol);
			protocol = ntohl(protocol);
			if (getenv("PROTOCOL_CLIENT_DEBUG") != NULL)
				fprintf(stderr, "negotiated protocol 0x%x\n", protocol);
			at = put(buffer, 0, 'D', connect_macros, sizeof connect_macros); /* sizeof: the last value's NUL included */
			send_buffer(fd, buffer, put(buffer, at, 'C', client, sizeof client), !(protocol & NR_CONN));
			if (!(protocol & NOHELO))
				send_buffer(fd, buffer, put(buffer, 0, 'H', "bench.example.net", 18), !(protocol & NR_HELO));
		}

		at = put(buffer, 0, 'D', mail_macros, sizeof mail_macros);
		if (!(protocol & NOMAIL))
			send_buffer(fd, buffer, put(buffer, at, 'M', "<bench-sender@example.com>", 27), !(protocol & NR_MAIL));
		at = put(buffer, 0, 'D', rcpt_macros, sizeof rcpt_macros);
		if (!(protocol & NORCPT))
			send_buffer(fd, buffer, put(buffer, at, 'R', "<bench-recipient@example.net>", 30), !(protocol & NR_RCPT));
		if (!(protocol & NODATA))
			send_buffer(fd, buffer, put(buffer, QUEUE_MACRO(0, 'T'), 'T', "", 0), !(protocol & NR_DATA));
		at = 0;
		for (int h = 0; h < 5 && !(protocol & NOHDRS); h++) {
			/* The value loses its leading space unless the milter asked for it (HDR_LEADSPC); NUL-terminated. */
			const char *text = headers[h][1] + ((protocol & HDR_LEADSPC) ? 0 : 1);
			int name = strlen(headers[h][0]) + 1, value = strlen(text) + 1;
			memcpy(packet, headers[h][0], name);
			memcpy(packet + name, text, value);
			at = put(buffer, QUEUE_MACRO(at, 'L'), 'L', packet, name + value);
			if (!(protocol & NR_HDR)) {
				send_buffer(fd, buffer, at, 1);
				at = 0;
			}
		}
		if (!(protocol & NOEOH)) {
			send_buffer(fd, buffer, put(buffer, QUEUE_MACRO(at, 'N'), 'N', "", 0), !(protocol & NR_EOH));
			at = 0;
		}
		if (!(protocol & NOBODY)) {
			send_buffer(fd, buffer, put(buffer, QUEUE_MACRO(at, 'B'), 'B', body, sizeof body), !(protocol & NR_BODY));
			at = 0;
		}
		send_buffer(fd, buffer, put(buffer, QUEUE_MACRO(at, 'E'), 'E', "", 0), 1);

		if (per_session > 0 && t + 1 == end) { /* the session's last message */
			send_buffer(fd, buffer, put(buffer, 0, 'Q', "", 0), 0);
			close(fd);
			fd = -1;
		}

		double took = now_ms() - started;
		latencies[t] = took;
		ran++;
		pthread_mutex_lock(&stats);
		stalls += took >= 40;
		slowest_ms = took > slowest_ms ? took : slowest_ms;
		pthread_mutex_unlock(&stats);
	}
	if (fd >= 0) {
		send_buffer(fd, buffer, put(buffer, 0, 'Q', "", 0), 0);
		close(fd);
	}
	pthread_mutex_lock(&stats); /* how many each connection ran: a milter that starves some sessions shows here */
	fewest = fewest < 0 || ran < fewest ? ran : fewest;
	most = ran > most ? ran : most;
	pthread_mutex_unlock(&stats);
	return NULL;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return x < y ? -1 : x > y;
}

/* The latency at or below which a fraction p of the transactions finished (nearest rank, as bench reports it). */
static double percentile(const double *sorted, int count, double p)
{
	int rank = (int) (p * count + 0.999999) - 1;
	return sorted[rank < 0 ? 0 : rank >= count ? count - 1 : rank];
}

int main(int argc, char **argv)
{
	static pthread_t threads[4096];
	struct timespec t0, t1;
	struct rusage r0, r1;
	pthread_attr_t small;
	int connections;

	if (argc < 4 || argc > 5 || (argv[1][0] == '/' ? (unix_path = argv[1]) == NULL : (port = atoi(argv[1])) <= 0)
	    || (connections = atoi(argv[2])) <= 0 || connections > 4096
	    || (transactions = atoi(argv[3])) < connections || (argc == 5 && (per_session = atoi(argv[4])) <= 0)) {
		fprintf(stderr, "usage: %s PORT|/unix/socket CONNECTIONS TRANSACTIONS [MESSAGES_PER_CONNECTION]\n", argv[0]);
		return 2;
	}
	latencies = calloc((size_t) transactions, sizeof *latencies);
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 256 * 1024); /* a few KiB are used: many connections fit */
	getrusage(RUSAGE_SELF, &r0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < connections; i++)
		if (pthread_create(&threads[i], &small, connection, NULL) != 0) {
			fprintf(stderr, "protocol-client: cannot start thread %d\n", i);
			return 1;
		}
	for (int i = 0; i < connections; i++)
		pthread_join(threads[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &r1);

	double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec)
		+ ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / 1e6;
	int total = transactions;
	qsort(latencies, total, sizeof *latencies, by_value);
	printf("{\"transactions\": %d, \"transactionsPerSecond\": %.1f, \"cpuMicrosecondsPerTransaction\": %.1f, "
	       "\"latencyMs\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
	       "\"stallsOver40ms\": %d, \"maxMs\": %.3f, \"transactionsPerConnection\": {\"min\": %d, \"max\": %d}, "
	       "\"contextSwitchesPerTransaction\": {\"voluntary\": %.2f, \"involuntary\": %.2f}, "
	       "\"seconds\": %.3f, \"measuredFrom\": %.6f}\n", total, total / seconds, cpu * 1e6 / total,
	       percentile(latencies, total, 0.50), percentile(latencies, total, 0.90), percentile(latencies, total, 0.99),
	       slowest_ms, stalls, slowest_ms, fewest, most,
	       (double) (r1.ru_nvcsw - r0.ru_nvcsw) / total, (double) (r1.ru_nivcsw - r0.ru_nivcsw) / total,
	       seconds, t0.tv_sec + t0.tv_nsec / 1e9); /* measuredFrom: CLOCK_MONOTONIC, for perf record -k CLOCK_MONOTONIC */
	return 0;
}
