# Shared by the bench-*.sh scripts (sourced, not run).
# median CMD... -> median wall seconds of $n runs, after ${warmup:-1} warm-up runs,
# printed with ${digits:-4} decimals.
median() {
  for _ in $(seq "${warmup:-1}"); do "$@" >/dev/null 2>&1 || true; done
  for _ in $(seq "$n"); do
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
    echo $(( (e - s) / 1000 ))
  done | sort -n | awk -v d="${digits:-4}" '{a[NR]=$1} END {printf "%.*f", d, a[int((NR+1)/2)]/1e6}'
}
