#!/usr/bin/env bash
# loadtest-data.sh keeps the production history on a data branch, so that each
# night builds on the night before without anybody merging anything. The
# branch holds only the environment's directory (baseline/production/); it
# only ever moves forward: nothing here force-pushes it.
#
#   restore DIR
#       Replace DIR in the work tree with the data branch's copy when the
#       branch exists (the history there is never older than main's, which is
#       a weekly copy of it). Prints base=<the commit read>, empty when there
#       is no branch yet, also to $GITHUB_OUTPUT.
#   publish DIR SRC BASE MESSAGE
#       Commit SRC as DIR on top of BASE (the commit restore printed; empty:
#       there was no branch, the first commit is an orphan) and push it to the
#       data branch. A push that lost a race is fetched, rebased and tried
#       again. Nothing changed: no commit. Prints commit=<the commit pushed>.
#   propose DIR PR_BRANCH
#       On a checkout of main: replace DIR with the data branch's copy, commit
#       on top of main and push PR_BRANCH, which is rebuilt from main each
#       time (so it alone is overwritten, with a lease on what was read).
#       Prints changed=, pushed= and data=<the data branch commit>.
#
# Environment: LOADTEST_DATA_REMOTE (default origin), LOADTEST_DATA_BRANCH
# (loadtest-data), LOADTEST_DATA_ATTEMPTS (5 pushes), LOADTEST_DATA_BACKOFF
# (seconds before a retry, times the attempt: 3), LOADTEST_DATA_TOKEN (a
# token for an https remote: handed to git through the environment of this
# script only, never written to .git/config).
set -euo pipefail

remote=${LOADTEST_DATA_REMOTE:-origin}
branch=${LOADTEST_DATA_BRANCH:-loadtest-data}
attempts=${LOADTEST_DATA_ATTEMPTS:-5}
backoff=${LOADTEST_DATA_BACKOFF:-3}

export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-github-actions[bot]}"
export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}"
export GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"

say() { echo "loadtest-data: $*"; }
die() {
	echo "loadtest-data: $*" >&2
	exit 1
}

# output KEY VALUE prints KEY=VALUE and, on GitHub, sets the step output.
output() {
	echo "$1=$2"
	if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

# use_token lets git authenticate to the GitHub remote with
# $LOADTEST_DATA_TOKEN, the way actions/checkout does, for this process only.
use_token() {
	[ -n "${LOADTEST_DATA_TOKEN:-}" ] || return 0
	local basic
	basic=$(printf 'x-access-token:%s' "$LOADTEST_DATA_TOKEN" | base64 | tr -d '\n')
	if [ "${GITHUB_ACTIONS:-}" = true ]; then echo "::add-mask::$basic"; fi
	export GIT_CONFIG_COUNT=1
	export GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader"
	export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic $basic"
}

# remote_tip REPO BRANCH prints the commit BRANCH names in REPO, nothing when
# there is no such branch; it fails when REPO cannot be read.
remote_tip() {
	local out rc=0
	out=$(git ls-remote --exit-code "$1" "refs/heads/$2") || rc=$?
	case $rc in
	0) echo "${out%%[[:space:]]*}" ;;
	2) ;;
	*) die "cannot read $1 (git ls-remote exit status $rc)" ;;
	esac
}

# extract COMMIT DIR makes DIR in the work tree the copy of COMMIT's DIR.
extract() {
	git cat-file -e "$1:$2" 2>/dev/null || die "$branch at $1 holds no $2"
	rm -rf "$2"
	git archive --format=tar "$1" "$2" | tar -xf -
}

# replace_dir DST SRC makes DST a copy of SRC without hidden files (the lock
# files the harness leaves beside its history).
replace_dir() {
	rm -rf "$1"
	mkdir -p "$(dirname "$1")"
	cp -R "$2" "$1"
	find "$1" -mindepth 1 -name '.*' -prune -exec rm -rf {} +
}

cmd_restore() {
	[ $# -eq 1 ] || die "usage: restore DIR"
	local dir=$1 tip
	cd "$(git rev-parse --show-toplevel)"
	use_token
	tip=$(remote_tip "$remote" "$branch")
	if [ -z "$tip" ]; then
		say "no branch $branch yet: $dir stays as checked out"
		output base ""
		return
	fi
	git fetch -q --no-tags --depth=1 "$remote" "refs/heads/$branch"
	tip=$(git rev-parse FETCH_HEAD)
	extract "$tip" "$dir"
	say "$dir restored from $branch at $tip"
	output base "$tip"
}

cmd_publish() {
	[ $# -eq 4 ] || die "usage: publish DIR SRC BASE MESSAGE"
	local dir=$1 src=$2 base=$3 msg=$4 url work out attempt=1
	[ -d "$src" ] || die "no directory $src to publish"
	src=$(cd "$src" && pwd)
	url=$(git remote get-url "$remote" 2>/dev/null) || url=$remote
	use_token
	work=$(mktemp -d)
	# shellcheck disable=SC2064 # the directory is known now
	trap "rm -rf '$work'" EXIT
	cd "$work"
	git init -q
	if [ -n "$base" ]; then
		git fetch -q --no-tags "$url" "refs/heads/$branch" || die "cannot fetch $branch"
		git merge-base --is-ancestor "$base" FETCH_HEAD 2>/dev/null ||
			die "$base, the commit this night started from, is no longer on $branch"
		git checkout -q --detach "$base"
	fi
	replace_dir "$dir" "$src"
	git add -A -- "$dir"
	if git diff --cached --quiet; then
		say "nothing new for $branch (the run appended no history)"
		output commit ""
		return
	fi
	git commit -q -m "$msg"
	while :; do
		if out=$(git push "$url" "HEAD:refs/heads/$branch" 2>&1); then
			say "pushed $(git rev-parse HEAD) to $branch"
			output commit "$(git rev-parse HEAD)"
			return
		fi
		[ "$attempt" -lt "$attempts" ] || die "push to $branch failed $attempts times: $out"
		say "push to $branch refused (attempt $attempt of $attempts): fetching, rebasing, retrying"
		sleep "$((backoff * attempt))"
		git fetch -q --no-tags "$url" "refs/heads/$branch" || die "cannot fetch $branch"
		git merge-base HEAD FETCH_HEAD >/dev/null ||
			die "$branch was created while this night ran; its files are in the run's artifact"
		if ! git rebase -q FETCH_HEAD >/dev/null 2>&1; then
			git rebase --abort
			die "this night's files conflict with a change pushed to $branch meanwhile; they are in the run's artifact"
		fi
		attempt=$((attempt + 1))
	done
}

cmd_propose() {
	[ $# -eq 2 ] || die "usage: propose DIR PR_BRANCH"
	local dir=$1 pr=$2 tip old
	cd "$(git rev-parse --show-toplevel)"
	use_token
	tip=$(remote_tip "$remote" "$branch")
	if [ -z "$tip" ]; then
		say "no branch $branch yet: nothing to propose"
		output changed false
		return
	fi
	git fetch -q --no-tags --depth=1 "$remote" "refs/heads/$branch"
	tip=$(git rev-parse FETCH_HEAD)
	output data "$tip"
	extract "$tip" "$dir"
	git add -A -- "$dir"
	if git diff --cached --quiet; then
		say "$dir here already matches $branch at $tip"
		output changed false
		return
	fi
	git commit -q -m "baseline: production history from the nightly runs" \
		-m "The history rows (and any refreshed baseline) the nightly workflow appended to $branch, as of its commit $tip."
	output changed true
	old=$(remote_tip "$remote" "$pr")
	if [ -n "$old" ]; then
		git fetch -q --no-tags --depth=1 "$remote" "refs/heads/$pr"
		if [ "$(git rev-parse 'FETCH_HEAD^{tree}')" = "$(git rev-parse 'HEAD^{tree}')" ]; then
			say "$pr already holds this"
			output pushed false
			return
		fi
	fi
	# The lease: overwrite $pr only if it is still what was read above
	# (an empty value: only if it does not exist).
	git push -q --force-with-lease="refs/heads/$pr:$old" "$remote" "HEAD:refs/heads/$pr"
	say "pushed $(git rev-parse HEAD) to $pr"
	output pushed true
}

[ $# -ge 1 ] || die "usage: $0 restore|publish|propose ARGS..."
cmd=$1
shift
case $cmd in
restore) cmd_restore "$@" ;;
publish) cmd_publish "$@" ;;
propose) cmd_propose "$@" ;;
*) die "unknown command $cmd: restore, publish or propose" ;;
esac
