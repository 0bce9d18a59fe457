# Shared by the bench-*.sh scripts (sourced, not run).
# median CMD... -> median wall seconds of $n runs, after ${warmup:-1} warm-up runs,
# printed with ${digits:-4} decimals. Timed with bash's $EPOCHREALTIME (no process is
# started to read the clock, so a run of a few milliseconds is measured as it is).
median() {
  for _ in $(seq "${warmup:-1}"); do "$@" >/dev/null 2>&1 || true; done
  for _ in $(seq "$n"); do
    s=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1 || true; e=${EPOCHREALTIME/./}
    echo $(( e - s ))
  done | sort -n | awk -v d="${digits:-4}" '{a[NR]=$1} END {printf "%.*f", d, a[int((NR+1)/2)]/1e6}'
}
