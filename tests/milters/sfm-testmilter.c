/*
 * sfm-testmilter -- a scriptable libmilter filter used as a test fixture for
 * SpamFilterMilter (the MTA side of the milter protocol).
 *
 * Build (exactly):
 *   cc -O2 -Wall -Werror -o sfm-testmilter sfm-testmilter.c -lmilter -lpthread
 *
 * The milter does whatever the command line tells it to at each protocol
 * stage and writes a transcript of everything it received, so a test can
 * drive the C# MTA against a real libmilter peer and then assert on both the
 * MTA's behaviour and what actually went over the wire.  See README.md in
 * this directory for the argument language and the transcript format.
 */

#define _GNU_SOURCE	/* memmem() */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

/* ------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------ */

struct flagname {
	const char *name;
	unsigned long bit;
};

static const struct flagname proto_names[] = {
	{ "NOCONNECT", SMFIP_NOCONNECT }, { "NOHELO", SMFIP_NOHELO },
	{ "NOMAIL", SMFIP_NOMAIL },       { "NORCPT", SMFIP_NORCPT },
	{ "NOBODY", SMFIP_NOBODY },       { "NOHDRS", SMFIP_NOHDRS },
	{ "NOEOH", SMFIP_NOEOH },         { "NR_HDR", SMFIP_NR_HDR },
	{ "NOUNKNOWN", SMFIP_NOUNKNOWN }, { "NODATA", SMFIP_NODATA },
	{ "SKIP", SMFIP_SKIP },           { "RCPT_REJ", SMFIP_RCPT_REJ },
	{ "NR_CONN", SMFIP_NR_CONN },     { "NR_HELO", SMFIP_NR_HELO },
	{ "NR_MAIL", SMFIP_NR_MAIL },     { "NR_RCPT", SMFIP_NR_RCPT },
	{ "NR_DATA", SMFIP_NR_DATA },     { "NR_UNKN", SMFIP_NR_UNKN },
	{ "NR_EOH", SMFIP_NR_EOH },       { "NR_BODY", SMFIP_NR_BODY },
	{ "HDR_LEADSPC", SMFIP_HDR_LEADSPC },
	{ NULL, 0 }
};

static const struct flagname action_names[] = {
	{ "ADDHDRS", SMFIF_ADDHDRS },     { "CHGBODY", SMFIF_CHGBODY },
	{ "ADDRCPT", SMFIF_ADDRCPT },     { "DELRCPT", SMFIF_DELRCPT },
	{ "CHGHDRS", SMFIF_CHGHDRS },     { "QUARANTINE", SMFIF_QUARANTINE },
	{ "CHGFROM", SMFIF_CHGFROM },     { "ADDRCPT_PAR", SMFIF_ADDRCPT_PAR },
	{ "SETSYMLIST", SMFIF_SETSYMLIST },
	{ NULL, 0 }
};

/* Protocol stages an -a action can be attached to. */
enum stage {
	S_CONNECT, S_HELO, S_MAIL, S_RCPT, S_DATA, S_HEADER, S_EOH, S_BODY,
	S_EOM, S_UNKNOWN, S_ABORT, S_CLOSE, S_NEGOTIATE, S_COUNT
};

/* Names double as the event names written to the transcript. */
static const char *stage_names[S_COUNT] = {
	"connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body",
	"eom", "unknown", "abort", "close", "negotiate"
};

/*
 * The "no reply" protocol bit belonging to each stage.  When we requested
 * one of these, libmilter insists the callback returns SMFIS_NOREPLY (it
 * logs an error and forces NOREPLY otherwise), so we do that ourselves.
 */
static const unsigned long stage_nr_bit[S_COUNT] = {
	SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT,
	SMFIP_NR_DATA, SMFIP_NR_HDR, SMFIP_NR_EOH, SMFIP_NR_BODY,
	0, SMFIP_NR_UNKN, 0, 0, 0
};

/* -S stage names -> SMFIM_* indexes for smfi_setsymlist(). */
static const struct flagname symlist_stages[] = {
	{ "connect", SMFIM_CONNECT }, { "helo", SMFIM_HELO },
	{ "mail", SMFIM_ENVFROM },    { "rcpt", SMFIM_ENVRCPT },
	{ "data", SMFIM_DATA },       { "eoh", SMFIM_EOH },
	{ "eom", SMFIM_EOM },
	{ NULL, 0 }
};

enum kind {
	K_VERDICT, K_REPLY, K_MLREPLY, K_ADDHEADER, K_INSHEADER, K_CHGHEADER,
	K_QUARANTINE, K_REPLBODY, K_ADDRCPT, K_ADDRCPT_PAR, K_DELRCPT,
	K_CHGFROM, K_PROGRESS, K_SLEEP
};

/*
 * Action syntax: name, kind, verdict (for plain verdicts) and how many
 * colon-separated fields follow the name.  Only the first max-1 colons
 * split, so the last field (TEXT/VALUE/ARGS) may itself contain colons.
 */
static const struct actiondef {
	const char *name;
	enum kind kind;
	sfsistat verdict;
	int minf, maxf;
} actiondefs[] = {
	{ "continue", K_VERDICT, SMFIS_CONTINUE, 0, 0 },
	{ "accept", K_VERDICT, SMFIS_ACCEPT, 0, 0 },
	{ "reject", K_VERDICT, SMFIS_REJECT, 0, 0 },
	{ "tempfail", K_VERDICT, SMFIS_TEMPFAIL, 0, 0 },
	{ "discard", K_VERDICT, SMFIS_DISCARD, 0, 0 },
	{ "skip", K_VERDICT, SMFIS_SKIP, 0, 0 },
	{ "reply", K_REPLY, 0, 3, 3 },
	{ "mlreply", K_MLREPLY, 0, 3, 3 },
	{ "addheader", K_ADDHEADER, 0, 2, 2 },
	{ "insheader", K_INSHEADER, 0, 3, 3 },
	{ "chgheader", K_CHGHEADER, 0, 3, 3 },
	{ "quarantine", K_QUARANTINE, 0, 1, 1 },
	{ "replbody", K_REPLBODY, 0, 1, 1 },
	{ "addrcpt", K_ADDRCPT, 0, 1, 1 },
	{ "addrcpt_par", K_ADDRCPT_PAR, 0, 1, 2 },
	{ "delrcpt", K_DELRCPT, 0, 1, 1 },
	{ "chgfrom", K_CHGFROM, 0, 1, 2 },
	{ "progress", K_PROGRESS, 0, 0, 0 },
	{ "sleep", K_SLEEP, 0, 1, 1 },
	{ NULL, 0, 0, 0, 0 }
};

#define MAXFIELDS	3
#define MAXMLLINES	32	/* libmilter's MAXREPLIES */

struct action {
	enum stage stage;
	char *key;		/* -f: runs only in a transaction with KEY, or NULL */
	char *match;		/* decoded /SUBSTRING, NULL = always */
	size_t matchlen;
	char *spec;		/* text after '=', echoed in the transcript */
	enum kind kind;
	sfsistat verdict;
	int nf;
	char *f[MAXFIELDS];	/* decoded fields */
	size_t flen[MAXFIELDS];
	char *lines[MAXMLLINES + 1];	/* mlreply lines, NULL terminated */
	struct action *next;
};

struct symlist {
	int where;
	char *macros;
	struct symlist *next;
};

/*
 * Per-connection state, stored with smfi_setpriv().  See conn_get() for
 * why it outlives xxfi_close.
 */
struct conn {
	int num;
	unsigned long pflags;	/* protocol flags we requested */
	char *txn;		/* this transaction's MAIL and RCPT addresses */
	size_t txnlen;
	SMFICTX *ctx;		/* only meaningful while parked */
	struct conn *next;
};

/* ------------------------------------------------------------------------
 * Globals (set once in main, read-only afterwards, except where locked)
 * ------------------------------------------------------------------------ */

static const char *default_macros =
	"j _ v i {daemon_name} {daemon_addr} {if_name} {if_addr} "
	"{client_addr} {client_name} {client_port} {client_ptr} "
	"{mail_addr} {mail_host} {mail_mailer} {rcpt_addr} {rcpt_host} "
	"{rcpt_mailer} {auth_type} {auth_authen} {auth_author} {auth_ssf} "
	"{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer} "
	"{msg_id} {spamfilter_optin}";

static char **macro_names;
static int n_macros;
static struct action *actions, **actions_tail = &actions;
static struct symlist *symlists, **symlists_tail = &symlists;
static unsigned long opt_proto_add, opt_proto_del;
static unsigned long opt_actions;
static int opt_actions_set;

static FILE *transcript;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Connection numbering and parked (closed) connection records. */
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static int last_conn_num;
static struct conn *parked;

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sfm-testmilter: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------------------
 * Argument decoding
 * ------------------------------------------------------------------------ */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode \r \n \t \\ \xNN in the first len bytes of s.  Other backslash
 * sequences are kept literally so that e.g. a Windows path survives.
 * The result is NUL-terminated; *outlen excludes the NUL (it may contain
 * embedded NULs from \x00, which only replbody can make use of).
 */
static char *
decode(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] != '\\' || i + 1 >= len) {
			out[o++] = s[i];
			continue;
		}
		switch (s[i + 1]) {
		case 'r': out[o++] = '\r'; i++; break;
		case 'n': out[o++] = '\n'; i++; break;
		case 't': out[o++] = '\t'; i++; break;
		case '\\': out[o++] = '\\'; i++; break;
		case 'x':
			if (i + 3 < len && hexval(s[i + 2]) >= 0 &&
			    hexval(s[i + 3]) >= 0) {
				out[o++] = (char)(hexval(s[i + 2]) * 16 +
						  hexval(s[i + 3]));
				i += 3;
				break;
			}
			out[o++] = s[i];
			break;
		default:
			out[o++] = s[i];
			break;
		}
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

/* Comma-separated flag names (or a number) -> bits; '-NAME' goes to *del. */
static unsigned long
parse_flags(const char *arg, const struct flagname *names, unsigned long *del,
	    const char *what)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	unsigned long bits = 0;
	const struct flagname *fn;

	if (copy == NULL)
		die("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int neg = 0;
		unsigned long b = 0;

		while (*tok == ' ')
			tok++;
		if (*tok == '-' && del != NULL) {
			neg = 1;
			tok++;
		}
		if (*tok >= '0' && *tok <= '9') {
			char *end;

			b = strtoul(tok, &end, 0);
			if (*end != '\0')
				die("bad %s number '%s'", what, tok);
		} else {
			for (fn = names; fn->name != NULL; fn++)
				if (strcasecmp(fn->name, tok) == 0)
					break;
			if (fn->name == NULL)
				die("unknown %s flag '%s'", what, tok);
			b = fn->bit;
		}
		if (neg)
			*del |= b;
		else
			bits |= b;
	}
	free(copy);
	return bits;
}

static enum stage
parse_stage(const char *s, size_t len)
{
	int i;

	for (i = 0; i < S_NEGOTIATE; i++)
		if (strlen(stage_names[i]) == len &&
		    strncmp(stage_names[i], s, len) == 0)
			return (enum stage)i;
	die("unknown stage '%.*s'", (int)len, s);
	return S_COUNT;	/* not reached */
}

/* Parse one -a STAGE[/SUBSTRING]=ACTION argument. */
static struct action *
parse_action(const char *arg)
{
	struct action *a = xmalloc(sizeof *a);
	const char *eq = strchr(arg, '='), *slash, *p, *colon;
	const struct actiondef *d;
	size_t namelen;
	int i;

	memset(a, 0, sizeof *a);
	if (eq == NULL)
		die("-a '%s': expected STAGE[/SUBSTRING]=ACTION", arg);
	slash = memchr(arg, '/', (size_t)(eq - arg));
	a->stage = parse_stage(arg, (size_t)((slash ? slash : eq) - arg));
	if (a->stage == S_NEGOTIATE)
		die("-a: negotiate is not an action stage");
	if (slash != NULL)
		a->match = decode(slash + 1, (size_t)(eq - slash - 1),
				  &a->matchlen);
	a->spec = strdup(eq + 1);

	p = eq + 1;
	namelen = strcspn(p, ":");
	for (d = actiondefs; d->name != NULL; d++)
		if (strlen(d->name) == namelen &&
		    strncmp(d->name, p, namelen) == 0)
			break;
	if (d->name == NULL)
		die("-a '%s': unknown action '%.*s'", arg, (int)namelen, p);
	a->kind = d->kind;
	a->verdict = d->verdict;

	/* Split the rest into at most d->maxf fields on the first colons. */
	p += namelen;
	a->nf = 0;
	while (*p == ':' && a->nf < d->maxf) {
		p++;
		colon = (a->nf + 1 < d->maxf) ? strchr(p, ':') : NULL;
		if (colon == NULL)
			colon = p + strlen(p);
		a->f[a->nf] = decode(p, (size_t)(colon - p), &a->flen[a->nf]);
		a->nf++;
		p = colon;
	}
	if (*p != '\0' || a->nf < d->minf)
		die("-a '%s': %s takes %d..%d ':'-separated fields", arg,
		    d->name, d->minf, d->maxf);

	switch (a->kind) {
	case K_REPLY:
	case K_MLREPLY:
		/* The final verdict follows the reply class. */
		a->verdict = (a->f[0][0] == '4') ? SMFIS_TEMPFAIL
						  : SMFIS_REJECT;
		break;
	case K_SLEEP:
		if (atol(a->f[0]) < 0)
			die("-a '%s': negative sleep", arg);
		break;
	default:
		break;
	}

	if (a->kind == K_MLREPLY) {
		/* Split the raw text on '|' first so \x7c can be a literal. */
		const char *raw = strchr(strchr(strchr(eq + 1, ':') + 1, ':')
					 + 1, ':') + 1;
		const char *s = raw;

		for (i = 0; i <= MAXMLLINES; i++) {
			const char *bar = strchr(s, '|');
			size_t l = bar ? (size_t)(bar - s) : strlen(s);

			if (i == MAXMLLINES)
				die("-a '%s': more than %d lines", arg,
				    MAXMLLINES);
			a->lines[i] = decode(s, l, NULL);
			if (bar == NULL)
				break;
			s = bar + 1;
		}
	}

	*actions_tail = a;
	actions_tail = &a->next;
	return a;
}

/*
 * -f FILE: one action a line, "KEY<TAB>STAGE[/SUBSTRING]=ACTION", run like
 * an -a action but only in a transaction whose MAIL or RCPT address (as far
 * as the milter has seen them) contains KEY.  Empty lines are skipped.
 */
static void
parse_action_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *tab;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		tab = strchr(line, '\t');
		if (tab == NULL || tab == line)
			die("-f %s: expected KEY<TAB>ACTION, got '%s'", path,
			    line);
		*tab = '\0';
		parse_action(tab + 1)->key = strdup(line);
	}
	free(line);
	fclose(f);
}

static void
parse_symlist(const char *arg)
{
	const char *colon = strchr(arg, ':');
	const struct flagname *fn;
	struct symlist *s;

	if (colon == NULL)
		die("-S '%s': expected STAGE:MACROS", arg);
	for (fn = symlist_stages; fn->name != NULL; fn++)
		if (strlen(fn->name) == (size_t)(colon - arg) &&
		    strncmp(fn->name, arg, (size_t)(colon - arg)) == 0)
			break;
	if (fn->name == NULL)
		die("-S '%s': stage must be connect|helo|mail|rcpt|data|eoh|eom",
		    arg);
	s = xmalloc(sizeof *s);
	s->where = (int)fn->bit;
	s->macros = strdup(colon + 1);
	s->next = NULL;
	*symlists_tail = s;
	symlists_tail = &s->next;
}

static void
parse_macros(const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;

	if (copy == NULL)
		die("out of memory");
	n_macros = 0;
	macro_names = NULL;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		macro_names = realloc(macro_names,
				      (n_macros + 1) * sizeof *macro_names);
		if (macro_names == NULL)
			die("out of memory");
		macro_names[n_macros++] = tok;	/* copy is never freed */
	}
}

/* ------------------------------------------------------------------------
 * Transcript lines
 * ------------------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			die("out of memory");
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append a TAB and then the field, escaped so it stays on one line. */
static void
sb_field(struct sbuf *b, const char *s, size_t n)
{
	char tmp[8];
	size_t i;

	sb_add(b, "\t", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '\\': sb_add(b, "\\\\", 2); break;
		case '\t': sb_add(b, "\\t", 2); break;
		case '\n': sb_add(b, "\\n", 2); break;
		case '\r': sb_add(b, "\\r", 2); break;
		default:
			if (c < 0x20 || c >= 0x7f) {
				snprintf(tmp, sizeof tmp, "\\x%02x", c);
				sb_add(b, tmp, 4);
			} else {
				sb_add(b, (const char *)&s[i], 1);
			}
		}
	}
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_field(b, s ? s : "", s ? strlen(s) : 0);
}

static void
sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_str(b, tmp);
}

/* Start a line: "N<TAB>event" (N is never escaped, it is a number). */
static void
sb_begin(struct sbuf *b, const struct conn *c, const char *event)
{
	char tmp[32];

	if (b->len > 0)
		sb_add(b, "\n", 1);
	snprintf(tmp, sizeof tmp, "%d", c->num);
	sb_add(b, tmp, strlen(tmp));
	sb_str(b, event);
}

/*
 * Write complete lines in one go under the mutex: libmilter serves
 * connections from several threads, and a test must never see half a line.
 */
static void
sb_flush(struct sbuf *b)
{
	if (b->len > 0 && transcript != NULL) {
		pthread_mutex_lock(&log_lock);
		fwrite(b->p, 1, b->len, transcript);
		fputc('\n', transcript);
		fflush(transcript);
		pthread_mutex_unlock(&log_lock);
	}
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------
 * Connection state
 * ------------------------------------------------------------------------ */

/*
 * Find (or create) the state for this ctx.  The number is assigned at the
 * first callback on a new MTA socket, which is xxfi_negotiate (every OPTNEG
 * reaches it because we register SMFI_VERSION > 4).
 *
 * xxfi_close also runs on SMFIC_QUIT_NC, after which the MTA reuses the
 * same socket (and ctx) for a new SMTP session without renegotiating.  We
 * must clear the private pointer in close (libmilter warns "private data
 * not NULL" otherwise), so the record is parked, keyed by ctx, and picked
 * up again by the next non-negotiate event on that ctx.  That keeps the
 * connection number and the negotiated NR_* flags across QUIT_NC; a new
 * socket always starts with negotiate, which discards any stale record
 * left for a recycled ctx address.
 */
static struct conn *
conn_get(SMFICTX *ctx, int fresh_socket)
{
	struct conn *c = smfi_getpriv(ctx), **pp;

	if (c != NULL)
		return c;
	pthread_mutex_lock(&conn_lock);
	for (pp = &parked; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->ctx == ctx) {
			c = *pp;
			*pp = c->next;
			break;
		}
	}
	if (c != NULL && fresh_socket) {
		free(c->txn);
		free(c);
		c = NULL;
	}
	if (c == NULL) {
		c = xmalloc(sizeof *c);
		memset(c, 0, sizeof *c);
		c->num = ++last_conn_num;
	}
	pthread_mutex_unlock(&conn_lock);
	c->ctx = NULL;
	c->next = NULL;
	smfi_setpriv(ctx, c);
	return c;
}

static void
conn_park(SMFICTX *ctx, struct conn *c)
{
	smfi_setpriv(ctx, NULL);
	pthread_mutex_lock(&conn_lock);
	c->ctx = ctx;
	c->next = parked;
	parked = c;
	pthread_mutex_unlock(&conn_lock);
}

/* ------------------------------------------------------------------------
 * Running the actions for an event
 * ------------------------------------------------------------------------ */

static char *
nonempty(char *s)
{
	return (s != NULL && *s != '\0') ? s : NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		continue;
}

/* Perform one action; returns the value for the transcript's rc field. */
static int
perform(SMFICTX *ctx, struct action *a, sfsistat *verdict)
{
	char **l = a->lines;

	switch (a->kind) {
	case K_VERDICT:
		*verdict = a->verdict;
		return a->verdict;
	case K_REPLY:
		*verdict = a->verdict;
		return smfi_setreply(ctx, a->f[0], nonempty(a->f[1]),
				     nonempty(a->f[2]));
	case K_MLREPLY:
		/*
		 * smfi_setmlreply is variadic and stops at the first NULL;
		 * passing all slots (the unused ones are NULL) gives it a
		 * run-time number of lines.
		 */
		*verdict = a->verdict;
		return smfi_setmlreply(ctx, a->f[0], nonempty(a->f[1]),
			l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7],
			l[8], l[9], l[10], l[11], l[12], l[13], l[14], l[15],
			l[16], l[17], l[18], l[19], l[20], l[21], l[22], l[23],
			l[24], l[25], l[26], l[27], l[28], l[29], l[30], l[31],
			(char *)NULL);
	case K_ADDHEADER:
		return smfi_addheader(ctx, a->f[0], a->f[1]);
	case K_INSHEADER:
		return smfi_insheader(ctx, atoi(a->f[0]), a->f[1], a->f[2]);
	case K_CHGHEADER:
		/* Empty value -> NULL, which libmilter turns into a delete. */
		return smfi_chgheader(ctx, a->f[1], atoi(a->f[0]),
				      nonempty(a->f[2]));
	case K_QUARANTINE:
		return smfi_quarantine(ctx, a->f[0]);
	case K_REPLBODY:
		return smfi_replacebody(ctx, (unsigned char *)a->f[0],
					(int)a->flen[0]);
	case K_ADDRCPT:
		return smfi_addrcpt(ctx, a->f[0]);
	case K_ADDRCPT_PAR:
		return smfi_addrcpt_par(ctx, a->f[0],
					a->nf > 1 ? nonempty(a->f[1]) : NULL);
	case K_DELRCPT:
		return smfi_delrcpt(ctx, a->f[0]);
	case K_CHGFROM:
		return smfi_chgfrom(ctx, a->f[0],
				    a->nf > 1 ? nonempty(a->f[1]) : NULL);
	case K_PROGRESS:
		return smfi_progress(ctx);
	case K_SLEEP:
		sleep_ms(atol(a->f[0]));
		return 0;
	}
	return -1;
}

/*
 * Common tail of every callback: append the macro lines to the event line
 * already in *b, write them, run the matching actions in command-line
 * order and return the verdict (the last verdict action, default continue).
 */
static sfsistat
finish(SMFICTX *ctx, struct conn *c, enum stage st, struct sbuf *b,
       const char *text, size_t textlen)
{
	sfsistat verdict = SMFIS_CONTINUE;
	struct action *a;
	int i;

	for (i = 0; i < n_macros; i++) {
		char *v = smfi_getsymval(ctx, macro_names[i]);

		if (v == NULL)
			continue;
		sb_begin(b, c, "macro");
		sb_str(b, stage_names[st]);
		sb_str(b, macro_names[i]);
		sb_str(b, v);
	}
	sb_flush(b);

	for (a = actions; a != NULL; a = a->next) {
		int rc;

		if (a->stage != st)
			continue;
		if (a->key != NULL && (c->txn == NULL ||
				       strstr(c->txn, a->key) == NULL))
			continue;
		if (a->match != NULL && a->matchlen > 0 &&
		    (text == NULL ||
		     memmem(text, textlen, a->match, a->matchlen) == NULL))
			continue;
		rc = perform(ctx, a, &verdict);
		sb_begin(b, c, "action");
		sb_str(b, stage_names[st]);
		sb_str(b, a->spec);
		sb_fmt(b, "%d", rc);
		sb_flush(b);
	}

	if (stage_nr_bit[st] != 0 && (c->pflags & stage_nr_bit[st]) != 0) {
		if (verdict != SMFIS_CONTINUE) {
			/* Make the overridden verdict visible in the log. */
			sb_begin(b, c, "action");
			sb_str(b, stage_names[st]);
			sb_str(b, "noreply(forced)");
			sb_fmt(b, "%d", SMFIS_NOREPLY);
			sb_flush(b);
		}
		verdict = SMFIS_NOREPLY;
	}
	return verdict;
}

/* ------------------------------------------------------------------------
 * libmilter callbacks
 * ------------------------------------------------------------------------ */

static sfsistat
t_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	    unsigned long f2, unsigned long f3, unsigned long *pf0,
	    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct conn *c = conn_get(ctx, 1);
	unsigned long want_a, want_p;
	struct symlist *s;
	struct sbuf b = { 0 };

	(void)f2;
	(void)f3;

	/* Actions: default is everything offered; never ask for more. */
	want_a = opt_actions_set ? opt_actions : f0;
	if ((want_a & ~f0) != 0)
		fprintf(stderr, "sfm-testmilter: conn %d: actions 0x%lx not "
			"offered, not requested\n", c->num, want_a & ~f0);
	want_a &= f0;

	/*
	 * Protocol: like libmilter's own default we take SKIP when offered,
	 * plus whatever -P asked for, but only bits the MTA offered.  Note
	 * f1 already includes the NR_* bits libmilter can fake.
	 */
	want_p = ((f1 & SMFIP_SKIP) | opt_proto_add) & ~opt_proto_del;
	if ((want_p & ~f1) != 0)
		fprintf(stderr, "sfm-testmilter: conn %d: protocol 0x%lx not "
			"offered, not requested\n", c->num, want_p & ~f1);
	want_p &= f1;

	c->pflags = want_p;
	*pf0 = want_a;
	*pf1 = want_p;
	*pf2 = 0;
	*pf3 = 0;

	sb_begin(&b, c, "negotiate");
	sb_fmt(&b, "0x%lx", f0);
	sb_fmt(&b, "0x%lx", f1);
	sb_fmt(&b, "0x%lx", want_a);
	sb_fmt(&b, "0x%lx", want_p);
	sb_flush(&b);

	/*
	 * smfi_setsymlist is only allowed here.  It is sent even when
	 * SETSYMLIST was not negotiated so a test can see what the MTA does
	 * with an unrequested list.
	 */
	for (s = symlists; s != NULL; s = s->next) {
		int rc = smfi_setsymlist(ctx, s->where, s->macros);
		char spec[512];

		if ((want_a & SMFIF_SETSYMLIST) == 0)
			fprintf(stderr, "sfm-testmilter: conn %d: setsymlist "
				"without SETSYMLIST action\n", c->num);
		snprintf(spec, sizeof spec, "setsymlist:%d:%s", s->where,
			 s->macros);
		sb_begin(&b, c, "action");
		sb_str(&b, "negotiate");
		sb_str(&b, spec);
		sb_fmt(&b, "%d", rc);
		sb_flush(&b);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
t_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct conn *c = conn_get(ctx, 0);
	struct sbuf b = { 0 };
	char addr[INET6_ADDRSTRLEN + 1] = "";
	const char *family = "U", *text = "";
	char port[16] = "";

	if (sa != NULL) {
		switch (sa->sa_family) {
		case AF_INET: {
			struct sockaddr_in *sin = (struct sockaddr_in *)sa;

			family = "4";
			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
			snprintf(port, sizeof port, "%u",
				 (unsigned)ntohs(sin->sin_port));
			text = addr;
			break;
		}
		case AF_INET6: {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

			family = "6";
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr,
				  sizeof addr);
			snprintf(port, sizeof port, "%u",
				 (unsigned)ntohs(sin6->sin6_port));
			text = addr;
			break;
		}
		case AF_UNIX:
			/* libmilter drops the port for 'L' connections. */
			family = "L";
			text = ((struct sockaddr_un *)sa)->sun_path;
			break;
		default:
			family = "?";
			break;
		}
	}
	sb_begin(&b, c, "connect");
	sb_str(&b, hostname);
	sb_str(&b, family);
	sb_str(&b, port);
	sb_str(&b, text);
	return finish(ctx, c, S_CONNECT, &b, hostname,
		      hostname ? strlen(hostname) : 0);
}

/* Events with one string: HELO's name, an unknown command's line. */
static sfsistat
string_event(SMFICTX *ctx, enum stage st, const char *text)
{
	struct conn *c = conn_get(ctx, 0);
	struct sbuf b = { 0 };

	sb_begin(&b, c, stage_names[st]);
	sb_str(&b, text);
	return finish(ctx, c, st, &b, text, strlen(text));
}

static sfsistat
t_helo(SMFICTX *ctx, char *name)
{
	return string_event(ctx, S_HELO, name);
}

/* MAIL and RCPT: argv[0] is the address, every ESMTP arg its own field. */
static sfsistat
envelope(SMFICTX *ctx, enum stage st, char **argv)
{
	struct conn *c = conn_get(ctx, 0);
	struct sbuf b = { 0 };
	int i;

	sb_begin(&b, c, stage_names[st]);
	for (i = 0; argv[i] != NULL; i++)
		sb_str(&b, argv[i]);
	/* The transaction's addresses, for the -f actions' keys. */
	if (st == S_MAIL)
		c->txnlen = 0;
	if (argv[0] != NULL) {
		size_t l = strlen(argv[0]);

		c->txn = realloc(c->txn, c->txnlen + l + 2);
		if (c->txn == NULL)
			die("out of memory");
		memcpy(c->txn + c->txnlen, argv[0], l);
		c->txnlen += l;
		c->txn[c->txnlen++] = ' ';
		c->txn[c->txnlen] = '\0';
	}
	return finish(ctx, c, st, &b, argv[0],
		      argv[0] ? strlen(argv[0]) : 0);
}

static sfsistat
t_envfrom(SMFICTX *ctx, char **argv)
{
	return envelope(ctx, S_MAIL, argv);
}

static sfsistat
t_envrcpt(SMFICTX *ctx, char **argv)
{
	return envelope(ctx, S_RCPT, argv);
}

/* Events without arguments: data, eoh, eom, abort, close. */
static sfsistat
plain_event(SMFICTX *ctx, enum stage st)
{
	struct conn *c = conn_get(ctx, 0);
	struct sbuf b = { 0 };

	sb_begin(&b, c, stage_names[st]);
	return finish(ctx, c, st, &b, NULL, 0);
}

static sfsistat
t_data(SMFICTX *ctx)
{
	return plain_event(ctx, S_DATA);
}

static sfsistat
t_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = conn_get(ctx, 0);
	struct sbuf b = { 0 }, text = { 0 };
	sfsistat r;

	sb_begin(&b, c, "header");
	sb_str(&b, name);
	sb_str(&b, value);
	/* /SUBSTRING matches against "Name: value". */
	sb_add(&text, name, strlen(name));
	sb_add(&text, ": ", 2);
	sb_add(&text, value, strlen(value));
	r = finish(ctx, c, S_HEADER, &b, text.p, text.len);
	free(text.p);
	return r;
}

static sfsistat
t_eoh(SMFICTX *ctx)
{
	return plain_event(ctx, S_EOH);
}

static sfsistat
t_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct conn *c = conn_get(ctx, 0);
	struct sbuf b = { 0 };

	sb_begin(&b, c, "body");
	sb_fmt(&b, "%lu", (unsigned long)len);
	sb_field(&b, (const char *)chunk, len);
	return finish(ctx, c, S_BODY, &b, (const char *)chunk, len);
}

static sfsistat
t_eom(SMFICTX *ctx)
{
	return plain_event(ctx, S_EOM);
}

static sfsistat
t_abort(SMFICTX *ctx)
{
	/* libmilter ignores abort's return value and sends no reply. */
	(void)plain_event(ctx, S_ABORT);
	return SMFIS_CONTINUE;
}

static sfsistat
t_close(SMFICTX *ctx)
{
	(void)plain_event(ctx, S_CLOSE);
	conn_park(ctx, conn_get(ctx, 0));
	return SMFIS_CONTINUE;
}

static sfsistat
t_unknown(SMFICTX *ctx, const char *cmd)
{
	return string_event(ctx, S_UNKNOWN, cmd);
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
"usage: sfm-testmilter -p CONN [-l TRANSCRIPT] [-m MACROS] [-P PROTOFLAGS]\n"
"                      [-A ACTIONFLAGS] [-S STAGE:MACROS]...\n"
"                      [-a STAGE[/SUBSTRING]=ACTION]... [-f FILE]\n"
"  CONN      inet:PORT@127.0.0.1 | inet6:PORT@::1 | unix:/path\n"
"  -P        e.g. NR_HDR,NOBODY or 0x90 (SKIP is requested when offered;\n"
"            -SKIP drops it).  -A e.g. ADDHDRS,QUARANTINE (default: all\n"
"            offered).\n"
"  -f FILE   KEY<TAB>STAGE[/SUBSTRING]=ACTION a line: an action for the\n"
"            transactions whose MAIL or RCPT address contains KEY.\n"
"  STAGE     connect helo mail rcpt data header eoh body eom unknown abort close\n"
"  ACTION    continue accept reject tempfail discard skip\n"
"            reply:RCODE:XCODE:TEXT  mlreply:RCODE:XCODE:L1|L2|...\n"
"            addheader:NAME:VALUE insheader:IDX:NAME:VALUE\n"
"            chgheader:IDX:NAME:VALUE quarantine:REASON replbody:TEXT\n"
"            addrcpt:ADDR addrcpt_par:ADDR:ARGS delrcpt:ADDR\n"
"            chgfrom:ADDR[:ARGS] progress sleep:MS\n"
"See README.md next to the source for details.\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct smfiDesc desc;
	const char *conn = NULL, *logfile = NULL, *macros = default_macros;
	int ch;

	while ((ch = getopt(argc, argv, "p:l:m:P:A:S:a:f:h")) != -1) {
		switch (ch) {
		case 'p': conn = optarg; break;
		case 'l': logfile = optarg; break;
		case 'm': macros = optarg; break;
		case 'P':
			opt_proto_add |= parse_flags(optarg, proto_names,
						     &opt_proto_del,
						     "protocol");
			break;
		case 'A':
			opt_actions |= parse_flags(optarg, action_names, NULL,
						   "action");
			opt_actions_set = 1;
			break;
		case 'S': parse_symlist(optarg); break;
		case 'a': (void)parse_action(optarg); break;
		case 'f': parse_action_file(optarg); break;
		default: usage();
		}
	}
	if (conn == NULL || optind != argc)
		usage();
	parse_macros(macros);

	if (logfile != NULL) {
		transcript = fopen(logfile, "a");
		if (transcript == NULL)
			die("cannot open %s: %s", logfile, strerror(errno));
	}

	memset(&desc, 0, sizeof desc);
	desc.xxfi_name = "sfm-testmilter";
	desc.xxfi_version = SMFI_VERSION;
	/* Upper bound only; the real request is made in t_negotiate. */
	desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT |
			  SMFIF_DELRCPT | SMFIF_CHGHDRS | SMFIF_QUARANTINE |
			  SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_SETSYMLIST;
	desc.xxfi_connect = t_connect;
	desc.xxfi_helo = t_helo;
	desc.xxfi_envfrom = t_envfrom;
	desc.xxfi_envrcpt = t_envrcpt;
	desc.xxfi_header = t_header;
	desc.xxfi_eoh = t_eoh;
	desc.xxfi_body = t_body;
	desc.xxfi_eom = t_eom;
	desc.xxfi_abort = t_abort;
	desc.xxfi_close = t_close;
	desc.xxfi_unknown = t_unknown;
	desc.xxfi_data = t_data;
	desc.xxfi_negotiate = t_negotiate;

	if (smfi_setconn((char *)conn) != MI_SUCCESS)
		die("smfi_setconn(%s) failed", conn);
	if (smfi_register(desc) != MI_SUCCESS)
		die("smfi_register failed");
	/* true: remove a stale unix socket left by an earlier run. */
	if (smfi_opensocket(true) != MI_SUCCESS)
		die("smfi_opensocket(%s) failed (port in use? bad spec?)",
		    conn);

	/* The harness waits for this line before connecting. */
	printf("READY\n");
	fflush(stdout);

	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
