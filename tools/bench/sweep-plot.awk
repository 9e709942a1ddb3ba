# sweep-plot.awk — the scaling sweep as an SVG: p50 latency and server CPU
# against clients, both on log scales, one line per technique.  Plain awk,
# no plotting package; columns by name (csv.awk):
#   awk -F, -f tools/bench/csv.awk -f tools/bench/sweep-plot.awk sweep.csv
# (tools/bench.sh --plot sweep.csv does the same.)

get("p50_ms") == "" || get("p50_ms") == "nan" { next }
{
	key = get("technique") (get("interval_ms") > 0 ? " every " get("interval_ms") " ms" : "") \
	      (get("label") == "helper" ? " (helper)" : "")
	if (!(key in n)) { keys[++nk] = key; n[key] = 0 }
	i = ++n[key]; X[key, i] = get("clients"); L[key, i] = get("p50_ms"); C[key, i] = get("srv_cpu_pct")
}
function lg(v) { return log(v < 0.01 ? 0.01 : v) / log(10) }
function fl(v) { return v < 0 ? -int(-v + 0.999999) : int(v) }
function px(v) { return ox + (lg(v) - x0) / (x1 - x0) * pw }
function py(v, lo, hi) { return oy + ph - (lg(v) - lo) / (hi - lo) * ph }
function axis(title, lo, hi, unit,   e, y) {
	printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", ox, oy, pw, ph
	printf "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", ox, oy - 10, title
	for (e = lo; e <= hi; e++) {
		y = oy + ph - (e - lo) / (hi - lo) * ph
		printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n", ox, y, ox + pw, y
		printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s%s</text>\n", ox - 4, y + 4, 10 ^ e, unit
	}
	for (e = x0; e <= x1; e++)
		printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", ox + (e - x0) / (x1 - x0) * pw, oy + ph + 16, 10 ^ e
	printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">clients</text>\n", ox + pw / 2, oy + ph + 34
}
function lines(which, lo, hi,   k, i, key, pts, v) {
	for (k = 1; k <= nk; k++) {
		key = keys[k]; pts = ""
		for (i = 1; i <= n[key]; i++) {
			v = which == "L" ? L[key, i] : C[key, i]
			pts = pts sprintf("%.1f,%.1f ", px(X[key, i]), py(v, lo, hi))
			printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(X[key, i]), py(v, lo, hi), col[k]
		}
		printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, col[k]
	}
}
END {
	split("#1f77b4 #d62728 #2ca02c #ff7f0e #9467bd #8c564b", col, " ")
	xmin = 1e18; xmax = 0; lmin = 1e18; lmax = 0; cmin = 1e18; cmax = 0
	for (k = 1; k <= nk; k++) for (i = 1; i <= n[keys[k]]; i++) {
		key = keys[k]
		if (X[key, i] < xmin) xmin = X[key, i]; if (X[key, i] > xmax) xmax = X[key, i]
		if (L[key, i] < lmin) lmin = L[key, i]; if (L[key, i] > lmax) lmax = L[key, i]
		if (C[key, i] < cmin) cmin = C[key, i]; if (C[key, i] > cmax) cmax = C[key, i]
	}
	x0 = fl(lg(xmin)); x1 = fl(lg(xmax)); if (x1 < lg(xmax)) x1++; if (x1 == x0) x1++
	l0 = fl(lg(lmin)); l1 = fl(lg(lmax)) + 1
	c0 = fl(lg(cmin)); c1 = fl(lg(cmax)) + 1
	print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"470\" font-family=\"sans-serif\" font-size=\"12\">"
	print "<rect width=\"960\" height=\"470\" fill=\"white\"/>"
	pw = 360; ph = 300; oy = 40
	ox = 70;  axis("p50 latency, ms (publish start to whole message)", l0, l1, ""); lines("L", l0, l1)
	ox = 540; axis("server CPU, % of one core while publishing", c0, c1, ""); lines("C", c0, c1)
	for (k = 1; k <= nk; k++) {
		printf "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>", 70 + (k - 1) * 150, 420, col[k]
		printf "<text x=\"%d\" y=\"%d\">%s</text>\n", 90 + (k - 1) * 150, 426, keys[k]
	}
	print "</svg>"
}
