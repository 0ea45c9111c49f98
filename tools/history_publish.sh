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
# before this run's results were added, or alerting only now; the step summary lists these).
#
# Exit codes (a failure's is never 1, so a caller can tell an alert from a publish that did not happen):
#   0  pushed (or nothing new to push); no regression alerts
#   1  pushed (or nothing new to push); a regression alerts (history detect's exit 1)
#   2  bad input: no perf-*.json, or infergate refused a results file or the history (one line, exit 2)
#   3  the history branch could not be read from origin (unreachable, refused): nothing was changed.
#      Only a branch origin answers it does not have is a first night, started as an orphan.
#   4  the push was refused or failed: nothing was recorded on the branch tonight
#   5  any other failure: a git step, or an infergate command that crashed (a traceback, an exit code it
#      does not document)
set -euo pipefail
py="$1" repo="$2" branch="$3" results="$4"
work="$repo/.history-worktree"

# Any step not handled below fails with 5: under plain 'set -e' a failing git or python step exits 1,
# which callers read as a regression alert (and the canary's publish job as success).
trap 'echo "history_publish: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2; exit 5' ERR

# An infergate command's exit code as this script's: 0 and 2 are its own; 1 only from detect, and only
# where its summary line (the file's last) counts a regression alert: a crashed python exits 1 too,
# with no summary line. Anything else is 5.
infergate_code() {  # CODE [SUMMARY_FILE ALERT_PATTERN]
  case "$1" in
    0|2) echo "$1" ;;
    1) if [ "$#" -eq 3 ] && grep -Eq "$3" <<< "$(tail -n 1 "$2")"; then echo 1; else echo 5; fi ;;
    *) echo 5 ;;
  esac
}

mapfile -t inputs < <(find "$results" -name 'perf-*.json' | sort)
if [ "${#inputs[@]}" -eq 0 ]; then
  echo "history_publish: no perf-*.json under $results: nothing to append" >&2
  exit 2
fi
rm -rf "$work"
git -C "$repo" worktree prune
# ls-remote --exit-code: 2 is "no such branch" (a first night); anything else non-zero is a failure,
# which must not start an orphan branch (its push would be refused, or would replace the history).
listed=0
# The full ref: ls-remote matches a pattern against refs' tails, so a bare name would also match
# refs/heads/<x>/<branch>, and the exact fetch below would then fail every night.
git -C "$repo" ls-remote --quiet --exit-code origin "refs/heads/$branch" > /dev/null || listed=$?
if [ "$listed" -eq 0 ]; then
  if ! git -C "$repo" fetch --quiet origin "$branch:refs/remotes/origin/$branch"; then
    echo "history_publish: could not fetch $branch from origin: nothing changed" >&2
    exit 3
  fi
  git -C "$repo" worktree add --quiet --detach "$work" "origin/$branch"
elif [ "$listed" -eq 2 ]; then
  # First night: an orphan branch with no files (git 2.39 has no 'worktree add --orphan').
  git -C "$repo" worktree add --quiet --detach "$work"
  git -C "$work" checkout --quiet --orphan "$branch"
  git -C "$work" rm -rf --quiet .
else
  echo "history_publish: could not read origin's branches (git ls-remote exit $listed): nothing changed" >&2
  exit 3
fi
# Absolute paths: the results may be given relative to the caller's directory.
abs=()
for f in "${inputs[@]}"; do abs+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
# The history as it was before tonight: what is new tonight is what detect did not report on it.
# Always a directory, empty on a first night: detect --new-against refuses a missing one.
before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
if [ -d "$work/history" ]; then cp -r "$work/history/." "$before/"; fi
added=0
"$py" -m infergate history --history "$work/history" add "${abs[@]}" || added=$?
if [ "$added" -ne 0 ]; then
  echo "history_publish: history add exited $added" >&2
  exit "$(infergate_code "$added")"
fi
detected=0
"$py" -m infergate history --history "$work/history" detect > "$work/detect.txt" || detected=$?
new=0
"$py" -m infergate history --history "$work/history" detect --new-against "$before" > "$work/detect-new.txt" \
  || new=$?
detected="$(infergate_code "$detected" "$work/detect.txt" ' [1-9][0-9]* regression alert\(s\)')"
new="$(infergate_code "$new" "$work/detect-new.txt" ' [1-9][0-9]* of them regression alert\(s\)')"
if [ "$detected" -gt 1 ]; then cat "$work/detect.txt" >&2; exit "$detected"; fi
if [ "$new" -gt 1 ]; then cat "$work/detect-new.txt" >&2; exit "$new"; fi
rm -rf "$work/docs"
published=0
"$py" -m infergate history --history "$work/history" publish --out "$work/docs" > /dev/null || published=$?
if [ "$published" -ne 0 ]; then
  echo "history_publish: history publish exited $published" >&2
  exit "$(infergate_code "$published")"
fi
git -C "$work" add history docs detect.txt detect-new.txt
# The history's per-class lock files (filelock) are this machine's, not the branch's.
git -C "$work" rm -q --cached --ignore-unmatch 'history/*/.lock' > /dev/null
# A re-run adds no run: nothing to push (its detect-new.txt, all old by then, stays on this machine).
if git -C "$work" diff --cached --quiet -- history; then
  echo "history_publish: every run was already in the history; nothing to push"
else
  git -C "$work" -c user.name="infergate nightly" -c user.email="infergate-nightly@users.noreply.github.com" \
    commit --quiet -m "nightly history: ${GITHUB_RUN_ID:-local} ($(date -u +%Y-%m-%d))"
  if ! git -C "$work" push --quiet origin "HEAD:refs/heads/$branch"; then
    echo "history_publish: the push of $branch to origin failed: tonight's runs are not recorded" >&2
    exit 4
  fi
fi
tail -n 1 "$work/detect.txt"
exit "$detected"
