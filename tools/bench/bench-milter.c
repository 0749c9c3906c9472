/*
 * bench-milter -- the two libmilter milters the figures of docs/performance.md are measured
 * against: "continue-all" answers every event with SMFIS_CONTINUE and changes
 * nothing; "add-header" does the same and adds one header at end of message.
 * They are deliberately as cheap as libmilter allows, so that `spamfilter-milter
 * bench` measures the client and the protocol, not a filter.
 *
 *   cc -O2 -Wall -Werror -o bench-milter bench-milter.c -lmilter -lpthread
 *   ./bench-milter inet:39011@127.0.0.1 continue-all
 *   ./bench-milter inet:39012@127.0.0.1 add-header
 *
 * It asks for no protocol flags of its own (no skipped steps, no NR_* replies):
 * every event is answered, the way most milters in the field negotiate.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmilter/mfapi.h>

static int add_header;

static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr) { return SMFIS_CONTINUE; }
static sfsistat on_helo(SMFICTX *ctx, char *helo) { return SMFIS_CONTINUE; }
static sfsistat on_envelope(SMFICTX *ctx, char **argv) { return SMFIS_CONTINUE; }
static sfsistat on_header(SMFICTX *ctx, char *name, char *value) { return SMFIS_CONTINUE; }
static sfsistat on_event(SMFICTX *ctx) { return SMFIS_CONTINUE; }
static sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t length) { return SMFIS_CONTINUE; }

static sfsistat on_eom(SMFICTX *ctx)
{
	if (add_header && smfi_addheader(ctx, "X-Bench", "added") != MI_SUCCESS)
		return SMFIS_TEMPFAIL;
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	struct smfiDesc desc = {
		"bench-milter", SMFI_VERSION, SMFIF_ADDHDRS,
		on_connect, on_helo, on_envelope, on_envelope, on_header, on_event,
		on_body, on_eom, on_event, on_event, NULL, on_event, NULL,
	};

	if (argc != 3 || (strcmp(argv[2], "continue-all") != 0 && strcmp(argv[2], "add-header") != 0)) {
		fprintf(stderr, "usage: %s inet:PORT@127.0.0.1 continue-all|add-header\n", argv[0]);
		return 2;
	}
	add_header = strcmp(argv[2], "add-header") == 0;
	if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS) {
		fprintf(stderr, "%s: cannot use %s\n", argv[0], argv[1]);
		return 2;
	}
	/* Deep enough that a thousand benchmark connections opened at once never wait for a second try. */
	smfi_setbacklog(1024);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
