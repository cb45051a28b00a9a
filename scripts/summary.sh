#!/bin/bash
# Sums the results of one `make check`. Arguments: the parts that must have
# reported ($RESULTS/<part>.txt); a part without results (its build or run
# broke before judging) counts as one failed case. The last line is exactly
# "N passed, M failed"; the exit status is non-zero on any failure.
source "$(dirname "$0")/lib.sh"

passed=0 failed=0 fails=""
for part in "$@"; do
	f="$RESULTS/$part.txt"
	if [ ! -f "$f" ]; then
		failed=$((failed + 1)) fails+="$part: no results (its build or run failed, see above)"$'\n'
		continue
	fi
	passed=$((passed + $(sed -n 's/^passed //p' "$f")))
	failed=$((failed + $(sed -n 's/^failed //p' "$f")))
	fails+="$(sed -n 's/^fail //p' "$f")"$'\n'
done
echo
echo "=== make check: $*"
printf '%s' "$fails" | sed '/^$/d; s/^/not ok: /'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
