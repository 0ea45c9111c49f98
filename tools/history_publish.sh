#!/usr/bin/env bash
# The nightly's publish job, runnable locally: append the shards' perf results to the history branch,
# detect change points, publish the site, commit and push. A local bare repository can stand in for
# the remote (tests/test_history_publish.py).
#
#   tools/history_publish.sh PYTHON REPO BRANCH RESULTS_DIR
#
# REPO is a clone whose remote "origin" holds BRANCH (created, as an orphan, on first use); the
# branch gets history/<class>/<YYYY-MM>.jsonl, the site under docs/ (GitHub Pages: branch BRANCH,
# folder /docs), detect.txt (every change point) and detect-new.txt (those new tonight: not reported
# before this run's results were added, or alerting only now; the step summary lists these). Exit: 0, or 1 when a regression alerts (after pushing), 2 on bad input.
set -euo pipefail
py="$1" repo="$2" branch="$3" results="$4"
work="$repo/.history-worktree"

mapfile -t inputs < <(find "$results" -name 'perf-*.json' | sort)
if [ "${#inputs[@]}" -eq 0 ]; then
  echo "history_publish: no perf-*.json under $results: nothing to append" >&2
  exit 2
fi
rm -rf "$work"
git -C "$repo" worktree prune
if git -C "$repo" fetch --quiet origin "$branch:refs/remotes/origin/$branch" 2>/dev/null; then
  git -C "$repo" worktree add --quiet --detach "$work" "origin/$branch"
else
  # First night: an orphan branch with no files (git 2.39 has no 'worktree add --orphan').
  git -C "$repo" worktree add --quiet --detach "$work"
  git -C "$work" checkout --quiet --orphan "$branch"
  git -C "$work" rm -rf --quiet .
fi
# Absolute paths: the results may be given relative to the caller's directory.
abs=()
for f in "${inputs[@]}"; do abs+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
# The history as it was before tonight: what is new tonight is what detect did not report on it.
before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
if [ -d "$work/history" ]; then cp -r "$work/history/." "$before/"; fi
"$py" -m infergate history --history "$work/history" add "${abs[@]}"
set +e
"$py" -m infergate history --history "$work/history" detect > "$work/detect.txt"
detected=$?
"$py" -m infergate history --history "$work/history" detect --new-against "$before" > "$work/detect-new.txt"
new=$?
set -e
if [ "$detected" -gt 1 ]; then cat "$work/detect.txt" >&2; exit "$detected"; fi
if [ "$new" -gt 1 ]; then cat "$work/detect-new.txt" >&2; exit "$new"; fi
rm -rf "$work/docs"
"$py" -m infergate history --history "$work/history" publish --out "$work/docs" > /dev/null
git -C "$work" add history docs detect.txt detect-new.txt
# The history's per-class lock files (filelock) are this machine's, not the branch's.
git -C "$work" rm -q --cached --ignore-unmatch 'history/*/.lock' > /dev/null
# A re-run adds no run: nothing to push (its detect-new.txt, all old by then, stays on this machine).
if git -C "$work" diff --cached --quiet -- history; then
  echo "history_publish: every run was already in the history; nothing to push"
else
  git -C "$work" -c user.name="infergate nightly" -c user.email="infergate-nightly@users.noreply.github.com" \
    commit --quiet -m "nightly history: ${GITHUB_RUN_ID:-local} ($(date -u +%Y-%m-%d))"
  git -C "$work" push --quiet origin "HEAD:refs/heads/$branch"
fi
tail -n 1 "$work/detect.txt"
exit "$detected"
