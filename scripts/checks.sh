# Sourced by scripts/test.sh and scripts/check-deploy.sh: counts their checks for one summary line.
#
#   step "NAME"       starts a check (and prints "== NAME"); the one before it has passed, since
#                     the scripts run under `set -e` and would have stopped at its failure
#   step_tests P F    the current check ran P passing and F failing tests (cargo nextest), so it
#                     counts as P + F, not as one
#   step_done         the current check passed; no new one starts (before a nested script)
#
# Results go to $CHECKS_FILE, one "passed<TAB>failed<TAB>NAME" a line. The outermost script creates
# the file (target/checks.txt) and, when it exits, prints the summary: check-deploy.sh run alone
# prints its own, and under test.sh adds its lines to test.sh's.
# shellcheck shell=bash

checks_current=""
checks_passed=""
checks_failed=""
checks_owner=""
if [ -z "${CHECKS_FILE:-}" ]; then
    mkdir -p target
    CHECKS_FILE="$PWD/target/checks.txt"
    export CHECKS_FILE
    : >"$CHECKS_FILE"
    checks_owner=1
fi

# Records the current check as passed (status 0) or failed.
checks_record() {
    if [ -z "$checks_current" ]; then
        return 0
    fi
    local passed=${checks_passed:-1} failed=${checks_failed:-0}
    if [ "$1" -ne 0 ]; then
        passed=${checks_passed:-0}
        failed=${checks_failed:-1}
        if [ "$failed" -eq 0 ]; then failed=1; fi
    fi
    printf '%s\t%s\t%s\n' "$passed" "$failed" "$checks_current" >>"$CHECKS_FILE"
    checks_current=""
}

# Ends the current check as passed without starting another (before calling a script that
# records its own checks).
step_done() {
    checks_record 0
}

step() {
    checks_record 0
    checks_current=$1
    checks_passed=""
    checks_failed=""
    echo "== $1"
}

step_tests() {
    checks_passed=$1
    checks_failed=$2
}

checks_exit() {
    local status=$?
    checks_record "$status"
    if [ -n "$checks_owner" ]; then
        awk -F '\t' -v status="$status" '
            { passed += $1; failed += $2; checks++ }
            $3 == "cargo nextest run" { tests = $1 + $2; checks-- }
            $2 > 0 { broken = broken (broken ? ", " : "") $3 }
            END {
                line = sprintf("tests: %d passed, %d failed (", passed, failed)
                noun = checks == 1 ? "check" : "checks"
                if (tests != "") line = line sprintf("%d cargo tests and %d other %s)", tests, checks, noun)
                else line = line sprintf("%d %s)", checks, noun)
                if (broken) line = line "; failed: " broken
                if (status != 0) line = line (broken ? "; the checks after it did not run" : "; stopped outside a check, exit status " status)
                print line
            }' "$CHECKS_FILE"
    fi
    return "$status"
}

trap checks_exit EXIT
