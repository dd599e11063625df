# Sourced by the study scripts here (NAME set first): `study ALGO ENV [landers tune options]` runs
# the study on one pinned core (CORE, default 0) with one torch thread, in $OUT/study (OUT,
# default runs/bench-tune-NAME), and copies its small files into bench/tuning/NAME/ ($HERE).
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-tune-$NAME}
HERE=$(dirname "$0")/$NAME
export OMP_NUM_THREADS=1

study() {
  taskset -c "${CORE:-0}" $LANDERS tune "$@" --out "$OUT/study"
  cp "$OUT"/study/best.json "$OUT"/study/trials.csv "$OUT"/study/tune.png "$OUT"/study/study.json "$HERE"/
}
