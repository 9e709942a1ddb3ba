/*
 * hub.h — the store in the helper's event loop (hub.c), as main.c drives it.
 */
#ifndef RTLAB_WS_HUB_H
#define RTLAB_WS_HUB_H

#include "conn.h"

extern const struct conn_events hub_events;   /* what conn.c reports to */

int hub_open(void);                    /* 0, or -1 (retried by hub_tick) */
void hub_close(void);
void hub_on_store_event(void);         /* the wait fd fired */
void hub_on_writer_event(void);        /* the writer thread stored messages */
int hub_wait_ms(void);                 /* how long the loop may sleep */
void hub_tick(void);                   /* once a second */

#endif
