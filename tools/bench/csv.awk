# csv.awk — read loadgen's CSV by column name, never by position:
# loadgen may add columns at the end (and has).  Run with -F, before the
# program that uses it:  awk -F, -f tools/bench/csv.awk -f PROGRAM file.csv
#   get("p50_ms")   this row's value of that column ("" if there is none)
#   mib(kib)        KiB as MiB with one decimal
NR == 1 { for (i = 1; i <= NF; i++) column_of[$i] = i; next }
function get(name) { return (name in column_of) ? $(column_of[name]) : "" }
function mib(k) { return k == "" ? "" : sprintf("%.1f", k / 1024) }
