#!/usr/bin/env bash
# timed.sh STAGE CMD...: run a stage and print how long it took, pass or fail.
stage=$1; shift
start=$(date +%s)
echo "=== stage $stage: start $(date -u +%H:%M:%S)"
"$@"; rc=$?
echo "=== stage $stage: $([ $rc -eq 0 ] && echo ok || echo FAILED rc=$rc) in $(( $(date +%s) - start )) s"
exit $rc
