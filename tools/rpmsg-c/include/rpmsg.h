/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * C API of the rpmsg userspace library (tools/rpmsg, Documentation/library.md).
 * Link with librpmsg_c.a (cargo build --release -p rpmsg-c), and -lpthread -ldl
 * -lm with glibc.
 *
 * Every function returning int returns 0 (or a count) on success and a
 * negative errno on failure; rpmsg_last_error() then says what was missing,
 * in a sentence ("no remote processor named sim9 (there are: sim0, sim1)").
 *
 *     struct rpmsg_ept *e;
 *     if (rpmsg_ept_open_channel("sim0/rpmsg-raw", &e) < 0)
 *         errx(1, "%s", rpmsg_last_error());
 *     rpmsg_ept_send(e, "hi", 2, -1);
 *     char buf[RPMSG_MAX_MESSAGE];
 *     int n = rpmsg_ept_recv(e, buf, sizeof(buf), 1000);   // -ETIMEDOUT after 1 s
 *     rpmsg_ept_close(e);
 */
#ifndef RPMSG_RS_RPMSG_H
#define RPMSG_RS_RPMSG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RPMSG_ADDR_ANY 0xffffffffu
/* Bigger than any message: one receive into this returns a whole one. */
#define RPMSG_MAX_MESSAGE 4096

struct rpmsg_ept;

/* Opens an endpoint device (/dev/rpmsgN or rpmsgN); nonblock: O_NONBLOCK. */
int rpmsg_ept_open(const char *dev, int nonblock, struct rpmsg_ept **out);
/* Opens a channel named "<remote>/<channel>": its char device when it is
 * bound to rpmsg_chrdev, else a new endpoint to its address (destroyed by
 * rpmsg_ept_close). */
int rpmsg_ept_open_channel(const char *channel, struct rpmsg_ept **out);
/* Makes an endpoint named name on remote processor remote (its name, e.g.
 * "sim0") with addresses src and dst (RPMSG_ADDR_ANY: any) through its
 * control device and opens it; rpmsg_ept_close destroys it. */
int rpmsg_ept_create(const char *remote, const char *name, uint32_t src, uint32_t dst,
		     struct rpmsg_ept **out);
/* The descriptor, for poll/epoll (POLLIN: a message waits). */
int rpmsg_ept_fd(const struct rpmsg_ept *e);
/* Sends one message; timeout_ms < 0 waits as the bus does. -EMSGSIZE over
 * the MTU, -EPIPE once the endpoint is gone, -ETIMEDOUT, -EAGAIN. */
int rpmsg_ept_send(struct rpmsg_ept *e, const void *data, size_t len, int timeout_ms);
/* Receives one message (cut to len); returns its length. timeout_ms < 0
 * blocks (or -EAGAIN when non-blocking); -ETIMEDOUT when none came. */
int rpmsg_ept_recv(struct rpmsg_ept *e, void *buf, size_t len, int timeout_ms);
/* Closes it (and destroys an endpoint the library made). NULL is fine. */
void rpmsg_ept_close(struct rpmsg_ept *e);
/* What the last failing call on this thread said; never NULL. */
const char *rpmsg_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* RPMSG_RS_RPMSG_H */
