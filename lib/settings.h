/*
 * settings.h — the one reader of rtlab's RT_* settings (pure layer: no
 * FastCGI, no store).
 *
 * Every number an admin sets through the environment (RT_SSE_HEARTBEAT,
 * RT_LONGPOLL_TIMEOUT, RT_KEEP, RT_WS_PING, ...) is read here, with the
 * checked number parser and one rule:
 *
 *   unset or empty         the default
 *   a number in [min,max]  that number
 *   anything else          the default, and one line on stderr naming the
 *                          variable and its range (the web server's error
 *                          log for an endpoint, the helper's own log)
 *
 * Why fall back instead of exiting: an endpoint reads its settings while it
 * serves requests, and a FastCGI process that exits on every request only
 * makes the web server restart it in a loop; the default keeps the service
 * up and the log line says what to fix.  The helper follows the same rule so
 * a setting means the same thing in every process.
 */
#ifndef RTLAB_SETTINGS_H
#define RTLAB_SETTINGS_H

long long settings_int(const char *name, long long min, long long max,
                       long long dflt);

#endif
