# gen-unicode.awk - writes libcore/unicode_tables.c, the code point ranges the
# tokenizer's pre-tokenizer and chunking need:
#
#   letter       general category L (Lu Ll Lt Lm Lo)       regex \p{L}
#   number       general category N (Nd Nl No)             regex \p{N}
#   white_space  property White_Space (PropList.txt)       regex \s
#   py_space     Python str.isspace(): bidi class WS, B or S, or category Zs
#
# Usage: awk -f tools/gen-unicode.awk UnicodeData.txt PropList.txt
# (the Makefile's `make unicode`).  Ranges come out sorted and merged.
# Portable awk: no gawk extensions (Debian's default awk is mawk).

BEGIN {
	FS = ";"
	for (i = 0; i < 16; i++)
		hexval[substr("0123456789ABCDEF", i + 1, 1)] = i
	nsets = split("letter number white_space py_space", sets, " ")
	for (i = 1; i <= nsets; i++)
		count[sets[i]] = 0
	version = "unknown"
}

function hex(s,    i, v) {
	v = 0
	s = toupper(s)
	for (i = 1; i <= length(s); i++)
		v = v * 16 + hexval[substr(s, i, 1)]
	return v
}

# Adds lo..hi to set name, merging with the last range when adjacent.
function add(name, lo, hi,    n) {
	n = count[name]
	if (n > 0 && rhi[name, n] + 1 >= lo) {
		if (hi > rhi[name, n])
			rhi[name, n] = hi
		return
	}
	n++
	count[name] = n
	rlo[name, n] = lo
	rhi[name, n] = hi
}

function classify(lo, hi, cat, bidi) {
	if (substr(cat, 1, 1) == "L")
		add("letter", lo, hi)
	if (substr(cat, 1, 1) == "N")
		add("number", lo, hi)
	if (bidi == "WS" || bidi == "B" || bidi == "S" || cat == "Zs")
		add("py_space", lo, hi)
}

FNR == 1 && FILENAME ~ /PropList/ && match($0, /[0-9]+\.[0-9]+\.[0-9]+/) {
	version = substr($0, RSTART, RLENGTH)
}

# UnicodeData.txt: code;name;category;ccc;bidi;...  Large blocks are given
# as a "<..., First>" line followed by a "<..., Last>" line.
FILENAME !~ /PropList/ && NF >= 5 {
	cp = hex($1)
	if ($2 ~ /, First>$/) {
		first = cp
		next
	}
	if ($2 ~ /, Last>$/) {
		classify(first, cp, $3, $5)
		next
	}
	classify(cp, cp, $3, $5)
}

# PropList.txt: "0009..000D    ; White_Space # ...", in code point order.
FILENAME ~ /PropList/ && $0 !~ /^#/ && NF >= 2 {
	prop = $2
	sub(/#.*/, "", prop)
	gsub(/[ \t]/, "", prop)
	if (prop != "White_Space")
		next
	range = $1
	gsub(/[ \t]/, "", range)
	if (index(range, "..") > 0) {
		split(range, ends, /\.\./)
		add("white_space", hex(ends[1]), hex(ends[2]))
	} else {
		add("white_space", hex(range), hex(range))
	}
}

END {
	if (count["letter"] == 0 || count["white_space"] == 0) {
		print "gen-unicode.awk: usage: awk -f gen-unicode.awk UnicodeData.txt PropList.txt" > "/dev/stderr"
		exit 1
	}
	print "/*"
	print " * unicode_tables.c - code point ranges for the tokenizer (Unicode " version ")."
	print " *"
	print " * GENERATED FILE, do not edit: made by tools/gen-unicode.awk (`make unicode`)"
	print " * from UnicodeData.txt and PropList.txt of Debian's unicode-data package."
	print " */"
	print "#include \"unicode.h\""
	print ""
	print "const char l32_unicode_version[] = \"" version "\";"
	for (i = 1; i <= nsets; i++) {
		name = sets[i]
		print ""
		printf "const struct l32_urange l32_uni_%s[] = {\n", name
		line = ""
		for (j = 1; j <= count[name]; j++) {
			item = sprintf("{0x%X, 0x%X},", rlo[name, j], rhi[name, j])
			if (length(line) + length(item) + 1 > 72) {
				print "\t" line
				line = item
			} else {
				line = line == "" ? item : line " " item
			}
		}
		if (line != "")
			print "\t" line
		print "};"
		printf "const size_t l32_uni_%s_n = %d;\n", name, count[name]
	}
}
