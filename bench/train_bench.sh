#!/usr/bin/env bash
# Training throughput at the machine's limit, in one command (issue 13): the machine's FMA peak
# (bench_fma), then per thread count, rounds that alternate hsicc and PyTorch in its three modes
# (eager, channels_last, TorchScript) for SSRN (batch 16, Indian Pines shape: [1, 200, 7, 7],
# 16 classes, RMSprop) and the contextual CNN (batch 128, [200, 5, 5], 8 classes, SGD momentum).
# Prints per net and thread count: samples/s, GFLOP/s (conv and dense forward + backward data +
# backward weights, from the compiled net's shapes), % of the FMA peak, each PyTorch mode and the
# ratio to PyTorch's best mode. A net with convs on Winograd's F(3x3, 3x3) (the contextual CNN's
# 3x3 bank) also gets "[executed: ...]": its rate in the multiply-adds the kernels run (those
# convs at 25/81 of their nominal FLOPs); the % of the peak beside it is the nominal one.
#   bench/train_bench.sh [--seconds S] [--rounds R] [--threads "2 1"] [--nets "ssrn contextual"]
#                        [--depth-sweep] [--roofline [ITERS]] [--no-torch] [--isa avx2]
#   --depth-sweep   also the contextual CNN at depth 1, 2, 4, 8, in one process taking turns
#                   every 4 steps (bench_depth; 4 x S x max(R, 5) seconds): each residual
#                   module's cost (the median of paired slices) against its FLOP share
#   --roofline      also per layer, forward and backward: hsicc's time, GFLOP/s and % of peak
#                   (HSI_PROFILE, ITERS steps, default 20), beside each conv / dense pass
#                   oneDNN's GEMM on the same multiply-adds (bench_<net> --gemm), then PyTorch's
#                   eager layer profile
#   --isa avx2      an AVX2 machine on an AVX-512 one: hsicc's own kernels on their AVX2 path
#                   (HSICC_KERNEL_ISA=avx2), oneDNN in hsicc and in PyTorch at most AVX2
#                   (ONEDNN_MAX_CPU_ISA), PyTorch's ATen and OpenBLAS at AVX2 (ATEN_CPU_CAPABILITY,
#                   OPENBLAS_CORETYPE=Haswell), the FMA peak 8-wide; same cores, so a stand-in
#                   for an AVX2 machine, not one (its clock and caches are this machine's)
# The FMA peak is read before and after each thread count's rounds; the summary's % uses the
# higher reading. It is also read just before and after every hsicc run: "[per run: M % (A-B %
# of P-Q)]" is the median over the rounds of each run against the higher of its own readings.
# Defaults: 5 s per measurement, 3 rounds, 2 then 1 thread. Quote only figures from an idle
# machine (the load average is printed before every round).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=5 rounds=3 threads="2 1" nets="ssrn contextual" sweep=0 roof=0 torch=1 isa=
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) secs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --nets) nets=$2; shift 2 ;;
    --depth-sweep) sweep=1; shift ;;
    --roofline) roof=20; if [[ ${2:-} =~ ^[0-9]+$ ]]; then roof=$2; shift; fi; shift ;;
    --no-torch) torch=0; shift ;;
    --isa) isa=$2; shift 2 ;;
    *) sed -n '2,25p' "$0" >&2; exit 2 ;;
  esac
done
case $isa in
  '') ;;
  avx2) export HSICC_KERNEL_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 \
               ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell ;;
  *) echo "train_bench.sh: --isa takes avx2 (the default is the machine's best)" >&2; exit 2 ;;
esac
build=${BUILD:-build}
targets="bench_fma"
for n in $nets; do targets="$targets bench_$n"; done
[ $sweep = 1 ] && targets="$targets bench_depth"
cmake --build "$build" --target $targets -j "$(nproc)" >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# the FMA peak at $t threads (GFLOP/s), its bench_fma line also appended to the file $1 if given
fma() {
  "$build/bench/bench_fma" "$t" | tee -a "${1:-/dev/null}" \
      | sed -n 's/.*fma_peak_gflops=\([0-9.]*\).*/\1/p'
}
# the cross-core round trip (ns; bench_fma --xcore): on a VM it can change between runs, and
# with it the speed of nets that hand tensors between threads (fma_peak.c)
xcore() { "$build/bench/bench_fma" --xcore | sed -n 's/.*xcore_round_trip_ns=\([0-9.]*\).*/\1/p'; }
opts() { if [ "$1" = ssrn ]; then echo "--batch 16 --solver rmsprop"; else echo "--batch 128 --solver sgd"; fi; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs${isa:+, kernels forced to $isa}"
for t in $threads; do
  export OMP_NUM_THREADS=$t
  peak=$(fma "$log")
  echo "threads $t: FMA peak $peak GFLOP/s"
  for r in $(seq "$rounds"); do
    echo "threads $t round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
    for n in $nets; do
      # the peak read just before and just after this run too (0.1 s each): the machine's speed
      # drifts by 10-25 % within minutes here, the kernels' and the FMA loop's alike, so each
      # run is also set against the higher of its own two readings (the summary's "per run")
      pa=$(fma) xa=$(xcore)
      "$build/bench/bench_$n" $(opts "$n") --seconds "$secs" --peak "$peak" | grep train_step \
          | sed "s/^/T$t /" | tee -a "$log"
      pb=$(fma) xb=$(xcore)
      echo "T$t run_peak net=$n before=$pa after=$pb xcore_ns=$xa/$xb" | tee -a "$log"
      if [ $torch = 1 ]; then
        for m in eager channels_last torchscript; do
          (cd bench && /usr/bin/python3 torch_step.py --net "$n" --seconds "$secs" --threads "$t" \
              --mode "$m" --train-only) | grep train_step | sed "s/^/T$t /" | tee -a "$log"
        done
      fi
    done
  done
  # the peak again after the rounds: a reading taken while the machine was slower (a neighbour,
  # the clock) would flatter every % of it; the summary divides by the higher of the two
  peak2=$(fma "$log")
  echo "threads $t: FMA peak after the rounds $peak2 GFLOP/s"
  if [ $sweep = 1 ]; then
    # the four depths in one process, taking turns every few steps (bench_depth.c), so that a
    # change of the machine's speed falls on every depth alike; each module's cost is the
    # median over the slices of the paired difference between two depths' steps
    x=$("$build/bench/bench_fma" --xcore | sed -n 's/.*xcore_round_trip_ns=\([0-9.]*\).*/\1/p')
    "$build/bench/bench_depth" --seconds "$(awk -v s="$secs" -v r="$rounds" 'BEGIN { print s * 4 * (r > 5 ? r : 5) }')" \
        --peak "$peak" \
        | sed "s/^/T$t /; s/\$/ xcore_ns=$x/" | tee -a "$log"
  fi
  if [ "$roof" -gt 0 ]; then
    for n in $nets; do
      echo "# roofline, hsicc $n, $t threads: per op, forward and backward (HSI_PROFILE, $roof steps)"
      "$build/bench/bench_$n" $(opts "$n") --seconds 1 --peak "$peak" --profile "$roof" --gemm \
          | grep -E " op |op_total|gemm_reference"
      if [ $torch = 1 ]; then
        echo "# PyTorch eager per-layer profile, $n, $t threads (module hooks; compare shares)"
        (cd bench && /usr/bin/python3 torch_step.py --net "$n" --seconds 1 --threads "$t" \
            --profile-iters "$roof") | grep -E "layer|^# " | grep -v "^# torch"
      fi
    done
  fi
done
echo "# summary (medians over rounds)"
/usr/bin/python3 - "$log" <<'PY'
import re, statistics, sys
rates, flops, xflops, peaks, sweep, runpct, xcore, modules = {}, {}, {}, {}, {}, {}, {}, {}
last = {}   # (threads, net) -> GFLOP/s of the last hsicc run, set against the run_peak line after it
for line in open(sys.argv[1]):
    for x in re.findall(r"xcore_ns=([\d./]+)", line):
        t = int(re.match(r"T(\d+)", line).group(1))
        xcore.setdefault(t, []).extend(float(v) for v in x.split("/") if v)
    m = re.match(r"T(\d+) run_peak net=(\w+) before=([\d.]+) after=([\d.]+)", line)
    if m:
        t, net = int(m.group(1)), m.group(2)
        if (t, net) in last:
            p = max(float(m.group(3)), float(m.group(4)))
            runpct.setdefault((t, net), []).append((100 * last.pop((t, net)) / p, p))
        continue
    m = re.match(r"machine fma_peak_gflops=([\d.]+) threads=(\d+)", line)
    if m:
        t = int(m.group(2))   # read before and after the rounds: the higher (the conservative %)
        peaks[t] = max(peaks.get(t, 0.0), float(m.group(1)))
        continue
    m = re.match(r"T(\d+) hsicc contextual depth_step depth=(\d+) median_ms=([\d.]+)", line)
    if m:
        sweep.setdefault(int(m.group(1)), {})[int(m.group(2))] = float(m.group(3))
        continue
    m = re.match(r"T(\d+) hsicc contextual depth_module from=(\d+) to=(\d+) paired_ms=([-\d.]+) "
                 r"share_pct=([-\d.]+) flop_share_pct=([\d.]+) slices=(\d+)", line)
    if m:
        modules.setdefault(int(m.group(1)), []).append(m.groups()[1:])
        continue
    m = re.match(r"T(\d+) (hsicc|torch) (\w+) train_step .*samples_per_s=([\d.]+)", line)
    if not m:
        continue
    t, depth, who, net, sps = int(m.group(1)), None, m.group(2), m.group(3), float(m.group(4))
    batch = int(re.search(r" batch=(\d+)", line).group(1))
    g = re.search(r" gflop_per_step=([\d.]+)", line)
    if g:
        flops[(net, depth)] = float(g.group(1)) / batch      # GFLOP per sample
    g = re.search(r"exec_gflop_per_step=([\d.]+)", line)   # Winograd convs at their GEMMs' work
    if g and who == "hsicc":
        xflops[(net, depth)] = float(g.group(1)) / batch
    mode = re.search(r"mode=(\w+)", line)
    if who == "hsicc":
        last[(t, net)] = sps * flops[(net, None)]
    rates.setdefault((t, net, who if who == "hsicc" else mode.group(1)), []).append(sps)
for t in sorted(peaks, reverse=True):
    for net in ("ssrn", "contextual"):
        h = rates.get((t, net, "hsicc"))
        if not h:
            continue
        sps = statistics.median(h)
        g = sps * flops[(net, None)]
        line = (f"{net} {t} thread(s): hsicc {sps:.1f} samples/s = {g:.1f} GFLOP/s = "
                f"{100 * g / peaks[t]:.1f} % of the FMA peak ({peaks[t]:.1f})")
        if (net, None) in xflops:   # the same rate in the multiply-adds the kernels run
            xg = sps * xflops[(net, None)]
            line += (f" [executed: {xg:.1f} GFLOP/s = {100 * xg / peaks[t]:.1f} %, Winograd's"
                     f" convs at 25/81 of their FLOPs]")
        rp = runpct.get((t, net))
        if rp:   # each run against the peak read around it: median, and the runs' range
            line += (f" [per run: {statistics.median(x for x, _ in rp):.1f} % "
                     f"({min(x for x, _ in rp):.1f}-{max(x for x, _ in rp):.1f} % of "
                     f"{min(p for _, p in rp):.1f}-{max(p for _, p in rp):.1f})]")
        modes = {m: statistics.median(rates[(t, net, m)]) for m in ("eager", "channels_last", "torchscript")
                 if (t, net, m) in rates}
        if modes:
            best = max(modes, key=modes.get)
            line += "; PyTorch " + ", ".join(f"{m} {v:.1f}" for m, v in modes.items())
            line += f"; ratio to PyTorch's best ({best}) {sps / modes[best]:.2f}x"
        print(line)
for t in sorted(xcore, reverse=True):
    if t > 1 and xcore[t]:
        print(f"cross-core round trip during the {t}-thread runs: {min(xcore[t]):.0f}-{max(xcore[t]):.0f} ns "
              f"(median {statistics.median(xcore[t]):.0f}; probably a VM whose CPUs at times share no cache "
              f"reads several hundred: runs then hand tensors between threads slower)")
# The depth sweep (bench_depth: the depths interleaved every few steps in one process): each
# depth's median step, and each module's cost as the median over the slices of the paired
# difference between the two depths' steps, against its FLOP share (issue 13: FLOP share + 10 %)
for t in sorted(sweep, reverse=True):
    ms = sweep[t]
    print(f"depth sweep, contextual, {t} thread(s), depths interleaved: " +
          ", ".join(f"depth {d} {128e3 / ms[d]:.0f} samples/s ({ms[d]:.2f} ms/batch)" for d in sorted(ms)))
    for a, b, pms, share, fshare, slices in modules.get(t, []):
        share, fshare = float(share), float(fshare)
        verdict = "ok" if share <= fshare + 10 else "OVER"
        print(f"  module {a}->{b}: {float(pms):.2f} ms each = {share:.1f} % of the depth-{b} step "
              f"(median of {slices} paired slices); FLOP share {fshare:.1f} %, limit "
              f"{fshare + 10:.1f} % {verdict} (time/FLOP share {share / fshare:.2f})")
PY
