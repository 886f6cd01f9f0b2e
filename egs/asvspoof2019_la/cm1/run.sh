#!/usr/bin/env bash
# ASVspoof 2019 LA countermeasures: LFCC-GMM, CQCC-GMM, LFCC-LCNN, RawNet2, AASIST, AASIST-L, SSL-AASIST.
#
#   ./run.sh --db_root /path/to/LA --config conf/aasist.yaml [--stage N --stop_stage M] [--ngpu 1]
#   ./run.sh --mini true [--mini_size small]      # the mini corpus and conf/<model>_mini.yaml
#   ./run.sh --stage 6 --fuse_exps "exp/aasist exp/lfcc_lcnn"   # dev-trained fusion of several systems
#   ./run.sh --db_root /path/to/LA --pretrained ../../../pretrained/aasist_clovaai   # the official AASIST, no training
#
# Stages: 0 mini corpus (--mini true); 1 data prep (data/{train,dev,eval,dev_asv,eval_asv});
# 2 features for feature-based models (ark/scp under dump/); 3 training (torchrun when
# --ngpu > 1; train_gmm for GMMs; with --pretrained a copy of that dir); 4 scoring dev and eval (exp/<name>/scores/{dev,eval}.txt);
# 5 metrics (EER, min t-DCF legacy and revised with the organisers' ASV scores, ASVspoof 5
# minDCF, per-attack EER, DET plot) appended to RESULTS.md; 6 calibration and fusion of
# --fuse_exps, trained on dev, scored on eval.
set -euo pipefail

stage=0
stop_stage=100
force=false
mini=false
mini_size=tiny
mini_root=
db_root=
nj=4                 # parallel jobs for features and scoring
ngpu=0
nproc=1              # CPU DDP processes when ngpu=0 (launch.sh --nproc)
cmd_backend=local
config=              # default: conf/aasist.yaml (conf/aasist_mini.yaml with --mini true)
tag=                 # experiment name (default: the config's file name, or the --pretrained dir's name)
pretrained=          # a trained experiment dir (../../../pretrained/aasist_clovaai, or one written by
                     # avdf.bin.import_model): stage 3 copies it instead of training; config from it
skip_bad=false       # log unusable utterances to data/<set>/bad_utts and go on
check_files=exist    # data prep: false (touch no audio) | exist | true (open every FLAC)
flac_pipe=false      # wav.scp through 'sox x.flac -t wav - |' instead of reading the FLAC directly
fuse_exps=           # stage 6: experiment dirs to fuse (default: every exp with dev+eval scores)
fusion_tag=fusion
datadir=data
expdir=exp
dumpdir=dump
results=RESULTS.md
train_opts=          # extra options for avdf.bin.train / train_gmm (e.g. "--train.epochs 5")
calibrate=true       # stage 6: also calibrate each system on its own (dev-trained)

run_args="$*"
. ./path.sh
. utils/parse_options.sh
. ./cmd.sh
. ../../TEMPLATE/lib.sh

check_bool mini "$mini"
check_bool skip_bad "$skip_bad"
check_bool calibrate "$calibrate"
check_bool flac_pipe "$flac_pipe"
if [ -n "$pretrained" ]; then
  [ -f "$pretrained/config.yaml" ] && [ -f "$pretrained/model.pt" ] \
    || die "--pretrained $pretrained: not an experiment dir (no config.yaml and model.pt)"
  [ -n "$config" ] && die "give --config or --pretrained, not both (a pretrained dir has its own config)"
  config=$pretrained/config.yaml
  tag=${tag:-$(basename "$pretrained")}
fi
if [ -z "$config" ]; then
  config=conf/aasist.yaml
  [ "$mini" = true ] && config=conf/aasist_mini.yaml
fi
[ -f "$config" ] || die "config $config does not exist"
tag=${tag:-$(basename "$config" .yaml)}
exp=$expdir/$tag
read -r model_name input feat_tag < <(python - "$config" <<'EOF'
import hashlib, json, sys
from avdf.utils.config import load_config
c = load_config(sys.argv[1])
d, f = c.get("data") or {}, c.get("frontend")
kind = d.get("input", "wav")
if kind == "feats" and not f:
    sys.exit(f"{sys.argv[1]}: data.input is feats but there is no frontend: section")
# features are shared by configs with the same front-end settings
ft = f"{f['name']}_{hashlib.md5(json.dumps(f, sort_keys=True).encode()).hexdigest()[:8]}" if kind == "feats" else "-"
print(c["model"]["name"], kind, ft)
EOF
)
[ -n "${feat_tag:-}" ] || die "cannot read $config"

if stage_begin 0 "mini corpus" ""; then
  if [ "$mini" = true ]; then
    mini_root=${mini_root:-db/mini_${mini_size}}
    if [ ! -f "$mini_root/.complete" ]; then
      python -m avdf.bin.make_mini_corpus --dataset asvspoof2019_la --size "$mini_size" --out "$mini_root"
    fi
  fi
fi
if [ "$mini" = true ]; then
  mini_root=${mini_root:-db/mini_${mini_size}}
  db_root=$mini_root
fi

check_source "$datadir" "$db_root" "--datadir, --dumpdir and --expdir"
if stage_begin 1 "data preparation" "$datadir/.done.prep"; then
  [ -n "$db_root" ] || die "give --db_root /path/to/LA (or --mini true)"
  python local/prepare_la.py --db_root "$db_root" --out "$datadir" --skip_bad "$skip_bad" \
    --check_files "$check_files" --flac_pipe "$flac_pipe"
  for x in train dev eval dev_asv eval_asv; do
    utils/validate_data_dir.sh --no-feats "$datadir/$x"
  done
  record_source "$datadir" "$db_root"
  stage_end "$datadir/.done.prep"
fi

# the data dirs the model reads: the prepared ones, or copies with the front-end's feats.scp
sets="train dev eval"
data_of() { if [ "$input" = feats ]; then echo "$datadir/${1}_$feat_tag"; else echo "$datadir/$1"; fi; }

if [ "$input" = feats ] && stage_begin 2 "features ($feat_tag)" "$datadir/.done.feats_$feat_tag"; then
  for x in $sets; do
    d=$(data_of "$x")
    mkdir -p "$d"
    for f in wav.scp utt2spk spk2utt utt2label utt2attack; do cp "$datadir/$x/$f" "$d/$f"; done
    $train_cmd JOB=1:"$nj" "$dumpdir/$feat_tag/$x/log/feats.JOB.log" \
      python -m avdf.bin.compute_features --config "$config" --data "$d" --out_dir "$dumpdir/$feat_tag/$x" \
        --nj "$nj" --job JOB --skip_bad "$skip_bad"
    python -m avdf.bin.compute_features --merge --data "$d" --out_dir "$dumpdir/$feat_tag/$x" --nj "$nj"
    if [ -f "$d/bad_utts" ]; then utils/fix_data_dir.sh "$d"; fi
    utils/validate_data_dir.sh "$d"
  done
  stage_end "$datadir/.done.feats_$feat_tag"
fi

if [ -n "$pretrained" ] && stage_begin 3 "copying the pretrained $tag ($model_name)" "$exp/.done.train"; then
  python - "$pretrained" "$exp" <<'EOF'
import shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for name in ("config.yaml", "import.json", "MODEL.md", "LICENSE", "model.pt"):  # model.pt last
    if (src / name).is_file():
        shutil.copyfile(src / name, dst / f".{name}.tmp")
        (dst / f".{name}.tmp").replace(dst / name)
EOF
  stage_end "$exp/.done.train"
elif [ -z "$pretrained" ] && stage_begin 3 "training $tag ($model_name)" "$exp/.done.train"; then
  mkdir -p "$exp/log"
  cpu_flag=; [ "$ngpu" -eq 0 ] && cpu_flag=--cpu
  if [ "$model_name" = lfcc_gmm ] || [ "$model_name" = gmm ]; then  # GMM countermeasures (LFCC-GMM, CQCC-GMM)
    python -m avdf.bin.train_gmm --config "$config" --exp_dir "$exp" --train_data "$(data_of train)" \
      $cpu_flag $train_opts 2>&1 | tee "$exp/log/train.log"
  else
    ../../TEMPLATE/launch.sh --ngpu "$ngpu" --nproc "$nproc" -- avdf.bin.train --config "$config" \
      --exp_dir "$exp" --train_data "$(data_of train)" --valid_data "$(data_of dev)" $train_opts \
      2>&1 | tee "$exp/log/train.log"
  fi
  stage_end "$exp/.done.train"
fi

if stage_begin 4 "scoring dev and eval with $exp" "$exp/scores/.done.infer"; then
  cpu_flag=; [ "$ngpu" -eq 0 ] && cpu_flag=--cpu
  $cuda_cmd JOB=1:"$nj" "$exp/scores/log/infer.JOB.log" \
    python -m avdf.bin.infer_cm --exp_dir "$exp" --data "$(data_of dev)" "$(data_of eval)" \
      --out "$exp/scores/dev.txt" "$exp/scores/eval.txt" --nj "$nj" --job JOB $cpu_flag --num_threads 1
  if [ "$nj" -gt 1 ]; then
    python -m avdf.bin.infer_cm --merge --nj "$nj" --data "$(data_of dev)" "$(data_of eval)" \
      --out "$exp/scores/dev.txt" "$exp/scores/eval.txt"
  fi
  stage_end "$exp/scores/.done.infer"
fi

# metrics of one score file, appended to $results with the command, date and machine
report() {  # report NAME SET SCORES DATA [extra compute_metrics options]; DET plot for eval
  local name=$1 set=$2 scores=$3 data=$4; shift 4
  local md=${scores%.txt}.md plot=()
  [ "$set" = eval ] && plot=(--plot "$(dirname "$scores")/plots")
  python -m avdf.bin.compute_metrics --task cm --scores "$scores" --data "$data" \
    --asv_scores "$datadir/${set}_asv/asv_scores" --trials "$datadir/${set}_asv/trials" \
    --out_md "$md" "${plot[@]}" --name "$name" "$@"
  {
    echo
    echo "## $name, $set ($([ "$mini" = true ] && echo "mini corpus $mini_size: $db_root" || echo "$db_root"))"
    echo
    echo "- command: \`./run.sh $run_args\`"
    echo "- date: $(date '+%Y-%m-%d %H:%M:%S %Z'); machine: $(machine_description)"
    echo "- ${systems:-config: \`$config\`}; scores: \`$scores\`${plot:+; DET plot: \`$(dirname "$scores")/plots/${name}_det.png\`}"
    echo
    cat "$md"
  } > "$results.tmp.$$"
  python -m avdf.bin.put_results --results "$results" --block "$results.tmp.$$" && rm -f "$results.tmp.$$"
}

if stage_begin 5 "metrics of $tag" "$exp/scores/.done.metrics"; then
  for x in dev eval; do
    report "$tag" "$x" "$exp/scores/$x.txt" "$(data_of "$x")"
  done
  stage_end "$exp/scores/.done.metrics"
fi

if stage_begin 6 "calibration and fusion ($fusion_tag)" "$expdir/$fusion_tag/.done"; then
  if [ -z "$fuse_exps" ]; then
    fuse_exps=$(for d in "$expdir"/*/; do [ -f "$d/scores/dev.txt" ] && [ -f "$d/scores/eval.txt" ] && echo "${d%/}"; done | grep -v "/$fusion_tag\$" || true)
  fi
  set -- $fuse_exps
  [ $# -ge 1 ] || die "stage 6: no experiment with dev and eval scores to fuse (--fuse_exps)"
  out=$expdir/$fusion_tag/scores
  mkdir -p "$out"
  systems="systems: $*; calibration/fusion trained on dev"
  dev_scores=(); eval_scores=()
  for e in "$@"; do dev_scores+=("$e/scores/dev.txt"); eval_scores+=("$e/scores/eval.txt"); done
  if [ "$calibrate" = true ]; then  # each system alone: dev-trained affine calibration to LLRs
    for e in "$@"; do
      python -m avdf.bin.calibrate --train_scores "$e/scores/dev.txt" --train_data "$datadir/dev" \
        --p_target 0.05 --apply "$e/scores/eval.txt" --out "$out/eval.$(basename "$e").cal.txt"
      report "$(basename "$e").cal" eval "$out/eval.$(basename "$e").cal.txt" "$datadir/eval" --llr
    done
  fi
  # fusion of all the systems, trained on dev (the dev scores of the selected models), applied to eval
  python -m avdf.bin.fuse --train "${dev_scores[@]}" --train_data "$datadir/dev" --p_target 0.05 \
    --apply "${eval_scores[@]}" --out "$out/eval.txt"
  echo "$*" > "$expdir/$fusion_tag/systems"
  report "$fusion_tag" eval "$out/eval.txt" "$datadir/eval" --llr
  stage_end "$expdir/$fusion_tag/.done"
fi
if [ "$stop_stage" -ge 3 ] && [ "$stage" -le 5 ]; then log "done: $exp"; else log "done (stages $stage-$stop_stage)"; fi
