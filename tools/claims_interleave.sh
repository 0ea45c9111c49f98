#!/usr/bin/env bash
# Two claims designs on the same rows, interleaved row by row (docs/claims.md, "Processes or rounds"):
# each architecture's row is measured under both settings back to back, the order alternating
# (A B, B A, ...) so a drift of the host over the run falls on both alike. Two runs hours apart
# confound host state with design; this pairs them within minutes. Run from the repository root:
#   tools/claims_interleave.sh OUT [TASK] [DTYPE] [A] [B]     A, B: PROCESSESxBUDGET (default 3x15 4x5)
# Writes OUT/<setting>/<arch>/ per row (each a claims report of one row), OUT/<setting>/ rendered
# from them, and OUT/interleave.log (start, end, exit status and load average of every row). A row
# whose command fails (a variant that failed to build exits 1) is logged and the run goes on; the
# script then exits 1. Compare the designs with tools/claims_paired.py OUT/A OUT/B.
set -euo pipefail
out=${1:?usage: tools/claims_interleave.sh OUT [TASK] [DTYPE] [A] [B]}
task=${2:-seqcls}
dtype=${3:-bf16}
a=${4:-3x15}
b=${5:-4x5}
py=${PYTHON:-.venvs/ipex/bin/python}
archs=(bert distilbert roberta albert electra deberta-v2)
for s in "$a" "$b"; do
  [[ $s =~ ^[0-9]+x[0-9]+$ ]] || { echo "claims_interleave: setting '$s' is not PROCESSESxBUDGET (e.g. 3x15)" >&2; exit 2; }
done
[[ $a != "$b" ]] || { echo "claims_interleave: the two settings are the same ($a)" >&2; exit 2; }
[[ -x $py ]] || { echo "claims_interleave: no python at $py (run from the repository root, or set PYTHON)" >&2; exit 2; }
if [[ -e $out ]] && [[ -n $(ls -A "$out") ]]; then
  echo "claims_interleave: $out is not empty: give a new directory (rows of another run would be rendered with these)" >&2
  exit 2
fi
mkdir -p "$out"
log="$out/interleave.log"
failed=0
i=0
for arch in "${archs[@]}"; do
  if (( i % 2 == 0 )); then order=("$a" "$b"); else order=("$b" "$a"); fi
  for s in "${order[@]}"; do
    dir="$out/$s/$arch"
    echo "$(date -u +%FT%TZ) start $arch $s loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >> "$log"
    rc=0
    "$py" -m infergate claims --archs "$arch" --tasks "$task" --dtypes "$dtype" \
      --processes "${s%x*}" --budget "${s#*x}" --out "$dir" || rc=$?
    echo "$(date -u +%FT%TZ) end $arch $s exit $rc loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >> "$log"
    (( rc == 0 )) || failed=1
  done
  i=$((i + 1))
done
for s in "$a" "$b"; do
  rows=()
  for arch in "${archs[@]}"; do
    [[ -f $out/$s/$arch/claims.json ]] && rows+=("$out/$s/$arch/")
  done
  (( ${#rows[@]} )) || { echo "claims_interleave: no row of $s finished" >&2; failed=1; continue; }
  "$py" -m infergate claims --render "${rows[@]}" --out "$out/$s" \
    --origin "tools/claims_interleave.sh: $task $dtype, setting $s, rows interleaved with the other setting" || failed=1
done
exit "$failed"
