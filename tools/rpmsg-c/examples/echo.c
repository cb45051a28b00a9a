// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * echo <remote>/<channel> <text>: sends text, prints the reply (C API of the
 * rpmsg library). Build: cc -I include examples/echo.c librpmsg_c.a -o echo
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rpmsg.h"

int main(int argc, char **argv)
{
	struct rpmsg_ept *e;
	char buf[RPMSG_MAX_MESSAGE];
	int n;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <remote>/<channel> <text>\n", argv[0]);
		return 2;
	}
	if (rpmsg_ept_open_channel(argv[1], &e) < 0)
		goto fail;
	if (rpmsg_ept_send(e, argv[2], strlen(argv[2]), 5000) < 0)
		goto fail;
	n = rpmsg_ept_recv(e, buf, sizeof(buf), 5000);
	if (n < 0)
		goto fail;
	printf("%.*s\n", n, buf);
	rpmsg_ept_close(e);
	return 0;
fail:
	fprintf(stderr, "echo: %s\n", rpmsg_last_error());
	return 1;
}
