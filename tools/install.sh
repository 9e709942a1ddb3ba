#!/bin/sh
# install.sh — `make install`: copy rtlab onto a course server.  Starts
# nothing and restarts nothing; it prints what to enable afterwards.
#
#   CGI_BIN   endpoints (send/poll/longpoll/sse .fcgi)  /usr/lib/cgi-bin/rtlab
#   HTDOCS    the pages (public_html/)                  /var/www/html/rtlab
#   CONF_DIR  Apache/lighttpd config, systemd unit      /etc/apache2/conf-available
#   DB        the SQLite database (created if missing)  /var/lib/rtlab/rtlab.db
#   BIN_DIR   the WebSocket helper rtlab-wsd            /usr/local/bin
#   MODE      which Apache file rtlab.conf includes     fcgid | proxy-fcgi | cgi
#   WS_PORT   the helper's port on 127.0.0.1            8081
#   DESTDIR   prefix for all of the above (packaging)
#
# It writes $CONF_DIR/rtlab.conf from apache-conf/rtlab.conf.in: the Defines
# for these paths followed by Includes of rtlab-$MODE.conf and rtlab-ws.conf,
# so `a2enconf rtlab` is the one step on a Debian Apache.  `make demo` writes
# its private server's rtlab.conf from the same template.
set -eu
cd "$(dirname "$0")/.."

CGI_BIN=${CGI_BIN:-/usr/lib/cgi-bin/rtlab}
HTDOCS=${HTDOCS:-/var/www/html/rtlab}
CONF_DIR=${CONF_DIR:-/etc/apache2/conf-available}
DB=${DB:-/var/lib/rtlab/rtlab.db}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
MODE=${MODE:-fcgid}
WS_PORT=${WS_PORT:-8081}
DESTDIR=${DESTDIR:-}
WEB_USER=${WEB_USER:-www-data}

case $MODE in fcgid|proxy-fcgi|cgi) ;; *) echo "install: MODE must be fcgid, proxy-fcgi or cgi" >&2; exit 1 ;; esac
ls cgi-bin/*.fcgi >/dev/null 2>&1 || { echo "install: nothing built; run make" >&2; exit 1; }

echo "install: endpoints -> $DESTDIR$CGI_BIN"
install -d "$DESTDIR$CGI_BIN"
for f in cgi-bin/*.fcgi; do install -m 755 "$f" "$DESTDIR$CGI_BIN/"; done

if [ -x ws/rtlab-wsd ]; then
	echo "install: helper -> $DESTDIR$BIN_DIR/rtlab-wsd"
	install -d "$DESTDIR$BIN_DIR"
	install -m 755 ws/rtlab-wsd "$DESTDIR$BIN_DIR/"
fi

echo "install: pages -> $DESTDIR$HTDOCS"
install -d "$DESTDIR$HTDOCS"
cp -R public_html/. "$DESTDIR$HTDOCS/"
install -d "$DESTDIR$HTDOCS/docs"          # the guides the pages link to
install -m 644 docs/*.md "$DESTDIR$HTDOCS/docs/"

echo "install: configuration -> $DESTDIR$CONF_DIR"
install -d "$DESTDIR$CONF_DIR"
for f in apache-conf/rtlab-*.conf apache-conf/lighttpd-rtlab.conf apache-conf/lighttpd-tls.conf apache-conf/rtlab-wsd.service; do
	[ -f "$f" ] && install -m 644 "$f" "$DESTDIR$CONF_DIR/"
done
# lighttpd's JSON 413 page (var.rtlab_errors in lighttpd-rtlab.conf).
install -d "$DESTDIR$CONF_DIR/lighttpd-errors"
install -m 644 apache-conf/lighttpd-errors/413.html "$DESTDIR$CONF_DIR/lighttpd-errors/"
# rtlab.conf from the template serve.sh fills for every private server.
CGI_BIN=$CGI_BIN DB=$DB WS_PORT=$WS_PORT FCGI_SOCKETS=/run/rtlab \
CONF_DIR=$CONF_DIR MODE=$MODE \
	tools/fill-template.sh apache-conf/rtlab.conf.in >"$DESTDIR$CONF_DIR/rtlab.conf"

# The database directory must be writable by the web server's user: SQLite
# creates the -wal and -shm files beside the database.
db_dir=$(dirname "$DESTDIR$DB")
install -d "$db_dir"
if [ ! -f "$DESTDIR$DB" ]; then
	echo "install: creating $DESTDIR$DB"
	sqlite3 "$DESTDIR$DB" <sql/schema.sql >/dev/null
fi
if [ "$(id -u)" = 0 ] && [ -z "$DESTDIR" ] && id "$WEB_USER" >/dev/null 2>&1; then
	chown "$WEB_USER:$WEB_USER" "$db_dir" "$DB"
fi

cat <<EOF
install: done.  Nothing was started.  Next, on a Debian Apache:
  a2enmod $( case $MODE in fcgid) echo fcgid ;; proxy-fcgi) echo proxy_fcgi ;; cgi) echo cgid ;; esac ) proxy proxy_wstunnel setenvif env alias headers
  a2enconf rtlab && systemctl reload apache2
  cp $CONF_DIR/rtlab-wsd.service /etc/systemd/system/ && systemctl enable --now rtlab-wsd
HTTPS + HTTP/2: a2enmod ssl http2, then Include $CONF_DIR/rtlab-tls.conf in your <VirtualHost *:443>.
The pages are then at http://HOST/rtlab/ (README.md, "Installing on a course server").
EOF
