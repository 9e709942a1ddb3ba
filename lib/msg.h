/*
 * msg.h — the message rules of SPEC.md, shared by every transport.
 *
 *   channel  [A-Za-z0-9_-]{1,64}, default "lobby"
 *   user     1–32 characters of valid UTF-8, default "anon"
 *   text     1–4096 bytes of valid UTF-8
 *
 * Each check returns NULL when the value is acceptable, otherwise a static
 * sentence that becomes the "detail" of a 400 answer (or a WebSocket error).
 */
#ifndef RTLAB_MSG_H
#define RTLAB_MSG_H

#include <stddef.h>

#define MSG_DEFAULT_CHANNEL "lobby"
#define MSG_DEFAULT_USER    "anon"

const char *msg_check_channel(const char *s, size_t len);
const char *msg_check_user(const char *s, size_t len);
const char *msg_check_text(const char *s, size_t len);

#endif
