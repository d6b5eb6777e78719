#!/usr/bin/env bash
# run-molecule.sh [-j JOBS] [SCENARIO...]: run Molecule scenarios, several at once.
# Each scenario has its own containers and its own ephemeral directory, so different
# scenarios run side by side safely. Logs: molecule-logs/SCENARIO.log (kept for CI).
# Without names, every scenario under molecule/ runs (the VM one too, when present).
set -uo pipefail
jobs=3
if [ "${1:-}" = "-j" ]; then jobs=$2; shift 2; fi
cd "$(dirname "$0")/.."
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  # the slowest first, so that the parallel slots drain evenly
  mapfile -t scenarios < <(for f in molecule/*/molecule.yml; do
    d=$(dirname "$f"); n=$(basename "$d")
    w=$(sed -n 's/^# weight: *\([0-9]*\).*/\1/p' "$f"); echo "${w:-1} $n"
  done | sort -rn | cut -d' ' -f2)
  # Left out of the default run, loudly, each with its reason ("name: reason" lines):
  # - molecule/EXTENDED: green but too long for the CI budget of make test; make test-all
  #   (MI_RUN_EXTENDED=1) runs them too;
  # - molecule/QUARANTINE: not yet seen green; MI_RUN_QUARANTINED=1 runs them. Meant to be empty.
  # Naming a scenario runs it whatever the lists say (make molecule SCENARIOS=name).
  leave_out() {  # leave_out LIST TAG "NOTE": drop the scenarios LIST names from $scenarios
    local list=$1 tag=$2 note=$3 s reason kept=()
    [ -s "$list" ] || return 0
    for s in "${scenarios[@]}"; do
      reason=$(sed -n "s/^$s: *//p" "$list")
      if [ -n "$reason" ]; then
        echo "!!! $tag molecule scenario $s ($note): $reason"
      else
        kept+=("$s")
      fi
    done
    scenarios=("${kept[@]}")
  }
  [ -n "${MI_RUN_EXTENDED:-}" ] || leave_out molecule/EXTENDED EXTENDED "not run by make test; make test-all runs it"
  [ -n "${MI_RUN_QUARANTINED:-}" ] || leave_out molecule/QUARANTINE QUARANTINED "not run"
fi
mkdir -p molecule-logs
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
results=$(mktemp -d)
run_one() {
  local s=$1 start rc
  start=$(date +%s)
  echo "--- molecule $s: start"
  molecule test -s "$s" >"molecule-logs/$s.log" 2>&1
  rc=$?
  echo "$rc $(( $(date +%s) - start ))" >"$results/$s"
  echo "--- molecule $s: $([ $rc -eq 0 ] && echo ok || echo FAILED) in $(( $(date +%s) - start )) s"
}
running=0
for s in "${scenarios[@]}"; do
  run_one "$s" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
failed=()
echo "=== Molecule summary"
for s in "${scenarios[@]}"; do
  read -r rc secs <"$results/$s" || { rc=99; secs=0; }
  printf '  %-24s %-6s %4d s\n' "$s" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" "$secs"
  [ "$rc" -eq 0 ] || failed+=("$s")
done
for s in "${failed[@]}"; do
  echo "=== molecule-logs/$s.log: what failed"
  grep -n -A12 -E '^(fatal|failed): |FAILED!|^E  +|^FAILED |Error:|ERROR ' "molecule-logs/$s.log" | head -150
  echo "=== molecule-logs/$s.log: last lines"
  tail -25 "molecule-logs/$s.log"
done
echo "${#scenarios[@]} scenarios: $(( ${#scenarios[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
