#!/usr/bin/env bash
# Tests of loadtest-data.sh against a bare repository standing in for GitHub,
# whose update hook refuses any push that would rewrite the data branch:
# nights that each append one commit, a night that reads the night before, a
# push race retried, a conflicting race refused, a night with nothing new,
# and the weekly pull request branch. Needs only git.
#
#   bash .github/scripts/loadtest-data_test.sh
set -euo pipefail

script=$(cd "$(dirname "$0")" && pwd)/loadtest-data.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
git config --global user.name test
git config --global user.email test@example.com
git config --global init.defaultBranch main
git config --global advice.detachedHead false
export LOADTEST_DATA_BACKOFF=0
unset LOADTEST_DATA_TOKEN GITHUB_OUTPUT GITHUB_ACTIONS

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
# want_eq WHAT GOT WANT
want_eq() {
	if [ "$2" != "$3" ]; then fail "$1 = $(printf '%q' "$2"); want $(printf '%q' "$3")"; fi
}
# value KEY OUTPUT: the value of the KEY=VALUE line in OUTPUT.
value() { sed -n "s/^$1=//p" <<<"$2" | tail -1; }

dir=baseline/production
hist=$dir/TestOrders/history.csv

# The remote, whose hook refuses non-fast-forward updates and deletions of the
# data branch, as a branch ruleset on GitHub would.
git init -q --bare remote.git
cat >remote.git/hooks/update <<'EOF'
#!/bin/sh
ref=$1 old=$2 new=$3
zero=0000000000000000000000000000000000000000
[ "$ref" = refs/heads/loadtest-data ] || exit 0
[ "$old" = "$zero" ] && exit 0
if [ "$new" = "$zero" ] || ! git merge-base --is-ancestor "$old" "$new"; then
	echo "refused: $ref may only move forward" | tee -a refused.log >&2
	exit 1
fi
EOF
chmod +x remote.git/hooks/update

# main, with an older copy of the production history and a baseline run.
git clone -q remote.git seed 2>/dev/null
(
	cd seed
	mkdir -p "$dir/TestOrders/20260101T021700Z-aaaa"
	printf 'time,p95_ms\n2026-01-01T02:17:00Z,40.000\n' >"$hist"
	echo run-a >"$dir/TestOrders/20260101T021700Z-aaaa/meta.csv"
	echo '# steadyload' >README.md
	git add -A && git commit -q -m "main: first" && git push -q origin HEAD:main
)

# night NAME: a fresh checkout of main, as the load job has.
night() {
	git clone -q remote.git "$1" 2>/dev/null
}
# publish NIGHT BASE MESSAGE: the publish job, on the files the night left.
publish() {
	rm -rf "$1.artifact"
	cp -R "$1/$dir" "$1.artifact"
	(cd "$1" && "$script" publish "$dir" "../$1.artifact" "$2" "$3")
}
# data_file PATH: PATH as the data branch holds it.
data_file() { git -C remote.git show "loadtest-data:$1"; }
data_count() { git -C remote.git rev-list --count loadtest-data; }

# Night 1: no data branch yet; it starts from main's copy and creates it.
night n1
out=$(cd n1 && "$script" restore "$dir")
want_eq "night 1 restore base" "$(value base "$out")" ""
want_eq "night 1 history before the run" "$(cat "n1/$hist")" "$(printf 'time,p95_ms\n2026-01-01T02:17:00Z,40.000')"
echo '2026-01-02T02:17:00Z,41.000' >>"n1/$hist"
touch "n1/$dir/TestOrders/.history.csv.lock"
out=$(publish n1 "" "baseline: night 1")
first=$(value commit "$out")
want_eq "night 1 pushed" "$(git -C remote.git rev-parse loadtest-data 2>/dev/null)" "$first"
want_eq "commits after night 1" "$(data_count)" 1
want_eq "night 1 commit message" "$(git -C remote.git log -1 --format=%s loadtest-data)" "baseline: night 1"
want_eq "night 1 history on the data branch" "$(data_file "$hist" | tail -1)" "2026-01-02T02:17:00Z,41.000"
want_eq "files on the data branch" "$(git -C remote.git ls-tree -r --name-only loadtest-data)" \
	"$(printf '%s\n' "$dir/TestOrders/20260101T021700Z-aaaa/meta.csv" "$hist")"

# Night 2 reads night 1's history, not main's, and records a new baseline run
# that replaces the old one; meanwhile somebody pushes another file to the
# data branch, so the first push loses the race and is rebased.
night n2
out=$(cd n2 && "$script" restore "$dir")
base=$(value base "$out")
want_eq "night 2 restore base" "$base" "$first"
want_eq "night 2 reads night 1's history" "$(tail -1 "n2/$hist")" "2026-01-02T02:17:00Z,41.000"
echo '2026-01-03T02:17:00Z,42.000' >>"n2/$hist"
rm -rf "n2/$dir/TestOrders/20260101T021700Z-aaaa"
mkdir -p "n2/$dir/TestOrders/20260103T021700Z-bbbb"
echo run-b >"n2/$dir/TestOrders/20260103T021700Z-bbbb/meta.csv"
git clone -q -b loadtest-data remote.git other 2>/dev/null
(
	cd other
	mkdir -p "$dir/TestOther"
	echo 'time,p95_ms' >"$dir/TestOther/history.csv"
	git add -A && git commit -q -m "baseline: by hand" && git push -q origin loadtest-data
)
racer=$(git -C remote.git rev-parse loadtest-data)
if ! out=$(publish n2 "$base" "baseline: night 2" 2>&1); then fail "night 2 publish: $out"; fi
case $out in *"refused (attempt 1 of 5)"*) ;; *) fail "night 2 publish did not retry: $out" ;; esac
second=$(git -C remote.git rev-parse loadtest-data)
want_eq "night 2 pushed" "$(value commit "$out")" "$second"
want_eq "commits after night 2" "$(data_count)" 3
want_eq "night 2's parent" "$(git -C remote.git rev-parse "$second^")" "$racer"
want_eq "history after night 2" "$(data_file "$hist")" \
	"$(printf 'time,p95_ms\n2026-01-01T02:17:00Z,40.000\n2026-01-02T02:17:00Z,41.000\n2026-01-03T02:17:00Z,42.000')"
want_eq "the racing change kept" "$(data_file "$dir/TestOther/history.csv")" "time,p95_ms"
want_eq "the old baseline run removed" "$(git -C remote.git ls-tree -r --name-only loadtest-data | grep -c aaaa || true)" 0
want_eq "the new baseline run" "$(data_file "$dir/TestOrders/20260103T021700Z-bbbb/meta.csv")" run-b

# Night 3 appended nothing (an aborted run): no commit.
night n3
base=$(value base "$(cd n3 && "$script" restore "$dir")")
want_eq "night 3 restore base" "$base" "$second"
out=$(publish n3 "$base" "baseline: night 3")
want_eq "night 3 commit" "$(value commit "$out")" ""
want_eq "commits after night 3" "$(data_count)" 3

# Night 4 races with a change to the same history file: refused, the data
# branch keeps the other change and nothing is overwritten.
night n4
base=$(value base "$(cd n4 && "$script" restore "$dir")")
echo '2026-01-05T02:17:00Z,43.000' >>"n4/$hist"
(
	cd other
	git pull -q --ff-only origin loadtest-data
	echo '2026-01-04T02:17:00Z,99.000' >>"$hist"
	git commit -qam "baseline: by hand, again" && git push -q origin loadtest-data
)
racer=$(git -C remote.git rev-parse loadtest-data)
if out=$(publish n4 "$base" "baseline: night 4" 2>&1); then fail "night 4 publish succeeded despite the conflict: $out"; fi
case $out in *conflict*) ;; *) fail "night 4 publish: no word of the conflict: $out" ;; esac
want_eq "data branch after the conflict" "$(git -C remote.git rev-parse loadtest-data)" "$racer"

# No publish above tried to rewrite the branch; one that did would be
# refused by the remote.
want_eq "pushes refused by the remote" "$(cat remote.git/refused.log 2>/dev/null)" ""
if git -C other push -q --force origin "$first:refs/heads/loadtest-data" 2>/dev/null; then
	fail "the remote accepted a force push"
fi
want_eq "pushes refused by the remote" "$(wc -l <remote.git/refused.log)" 1

# The weekly pull request branch: main plus the data branch's directory.
git clone -q remote.git week 2>/dev/null
out=$(cd week && "$script" propose "$dir" loadtest-data-pr)
want_eq "week 1 changed" "$(value changed "$out")" true
want_eq "week 1 pushed" "$(value pushed "$out")" true
want_eq "week 1 data commit" "$(value data "$out")" "$racer"
want_eq "pull request branch on main" "$(git -C remote.git rev-parse loadtest-data-pr^)" "$(git -C remote.git rev-parse main)"
want_eq "pull request branch's directory" "$(git -C remote.git rev-parse "loadtest-data-pr:$dir")" \
	"$(git -C remote.git rev-parse "loadtest-data:$dir")"
want_eq "pull request branch keeps main's files" "$(git -C remote.git show loadtest-data-pr:README.md)" '# steadyload'
pr1=$(git -C remote.git rev-parse loadtest-data-pr)

# Nothing new since: the branch is left alone.
rm -rf week && git clone -q remote.git week 2>/dev/null
out=$(cd week && "$script" propose "$dir" loadtest-data-pr)
want_eq "week 2 pushed" "$(value pushed "$out")" false
want_eq "week 2 branch" "$(git -C remote.git rev-parse loadtest-data-pr)" "$pr1"

# main moved on: the branch is rebuilt from it.
(cd seed && git pull -q --ff-only origin main && echo more >>README.md && git commit -qam "main: second" && git push -q origin HEAD:main)
rm -rf week && git clone -q remote.git week 2>/dev/null
out=$(cd week && "$script" propose "$dir" loadtest-data-pr)
want_eq "week 3 pushed" "$(value pushed "$out")" true
want_eq "week 3 branch on the new main" "$(git -C remote.git rev-parse loadtest-data-pr^)" "$(git -C remote.git rev-parse main)"

# Merged: main matches the data branch, nothing to propose.
git -C remote.git update-ref refs/heads/main "$(git -C remote.git rev-parse loadtest-data-pr)"
rm -rf week && git clone -q remote.git week 2>/dev/null
out=$(cd week && "$script" propose "$dir" loadtest-data-pr)
want_eq "after the merge changed" "$(value changed "$out")" false

# A remote that cannot be read fails the restore: a night never starts from
# an older history than the data branch's.
night n5
if (cd n5 && LOADTEST_DATA_REMOTE="$tmp/missing.git" "$script" restore "$dir") >/dev/null 2>&1; then
	fail "restore from an unreadable remote succeeded"
fi

if [ "$failures" -ne 0 ]; then
	echo "loadtest-data_test: $failures failure(s)" >&2
	exit 1
fi
echo "loadtest-data_test: ok"
