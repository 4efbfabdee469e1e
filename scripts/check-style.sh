#!/usr/bin/env bash
# check-style.sh — `make check`: the C sources' style.
#
# 1. Line width: every line of *.c and *.h under processor state topologies
#    connectors api tests, and main.c, fits in 80 columns (tabs every 8
#    columns, UTF-8 characters one column each).  Lines over it are listed
#    as FILE:LINE: N columns, and fail the check.
# 2. clang-format (when installed) against .clang-format, --dry-run: the
#    number of lines it would change per file is reported, not failed on.
#    SLUICE_STYLE_VERBOSE=1 shows its diagnostics.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

MAX_COLUMNS=80

cd "$SLUICE_ROOT" || die "no repository root"

dirs=()
for d in processor state topologies connectors api tests main.c; do
	[[ -e $d ]] && dirs+=("$d")
done
files=()
if ((${#dirs[@]} > 0)); then
	mapfile -t files < <(find "${dirs[@]}" -type f \
		\( -name '*.c' -o -name '*.h' \) | sort)
fi

# 1. Width.  perl reads UTF-8 so a multi-byte character is one column.
wide=0
if ((${#files[@]} > 0)); then
	wide=$(perl -CSD -Mutf8 -ne '
		BEGIN { $max = shift @ARGV; $n = 0 }
		chomp;
		s/\r$//;
		my $col = 0;
		for my $ch (split //) {
			$col = $ch eq "\t" ? ($col + 8) & ~7 : $col + 1;
		}
		if ($col > $max) {
			print STDERR "$ARGV:$.: $col columns\n";
			$n++;
		}
		close ARGV if eof;
		END { print "$n\n" }
	' "$MAX_COLUMNS" "${files[@]}")
fi
echo "width: ${#files[@]} files, $wide lines over $MAX_COLUMNS columns"

# 2. clang-format, report only.
if ! command -v clang-format >/dev/null 2>&1; then
	echo "clang-format: not installed, skipped"
elif ((${#files[@]} > 0)); then
	differ=0
	for f in "${files[@]}"; do
		n=$(clang-format --style=file --dry-run "$f" 2>&1 |
			grep -c 'warning: code should be clang-formatted')
		if ((n > 0)); then
			differ=$((differ + 1))
			echo "clang-format: $f: $n places differ"
			if [[ ${SLUICE_STYLE_VERBOSE:-0} == 1 ]]; then
				clang-format --style=file --dry-run "$f"
			fi
		fi
	done
	echo "clang-format: $differ of ${#files[@]} files differ" \
		"(reported, not failed on)"
fi

if ((wide > 0)); then
	echo "style: FAILED ($wide lines over $MAX_COLUMNS columns)"
	exit 1
fi
echo "style: ok"
