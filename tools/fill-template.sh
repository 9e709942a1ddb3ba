#!/bin/sh
# fill-template.sh — write a config template with its values filled in.
#
#   NAME=value ... tools/fill-template.sh apache-conf/X.in >X
#
# Every @NAME@ (capitals, digits, _) in the template becomes the value of the
# environment variable NAME; a value may span several lines (a block of
# directives).  A line that is only a placeholder whose value is empty is
# dropped, so optional blocks leave no blank line.  A placeholder with no
# variable set is an error: a typo never reaches a server as "@PORT@".
# Used by tools/serve.sh (the private servers) and tools/install.sh.
set -eu
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: NAME=value ... $0 TEMPLATE" >&2; exit 2; }
exec awk '
{
	line = $0; out = ""; whole = (line ~ /^@[A-Z][A-Z0-9_]*@$/)
	while (match(line, /@[A-Z][A-Z0-9_]*@/)) {
		name = substr(line, RSTART + 1, RLENGTH - 2)
		if (!(name in ENVIRON)) {
			printf "fill-template: %s:%d: @%s@ is not set\n", FILENAME, FNR, name > "/dev/stderr"
			bad = 1
		}
		out = out substr(line, 1, RSTART - 1) ENVIRON[name]
		line = substr(line, RSTART + RLENGTH)
	}
	out = out line
	if (!(whole && out == "")) print out
}
END { exit bad }' "$1"
