#!/usr/bin/env bash
# The VoxCeleb speaker-verification pipeline shared by v1 (i-vector), v2 (x-vector) and
# v3 (ECAPA-TDNN); each recipe's run.sh sets its defaults and calls this, ESPnet style:
#   local/asv.sh --config conf/ecapa_c512.yaml --train_sets vox2_dev "$@"
#
# Stages: 0 mini corpus (--mini true); 1 data prep (data/{vox1_dev,vox1_test,vox2_dev,
# vox2_test,train,vox1}, trials_{O,E,H}); 2 features (+ VAD) of train and vox1 under
# data/<set>_<feature tag>, and simulated MUSAN/RIRS material on the mini corpus; 3 training
# (i-vector UBM + T-matrix, or a network through launch.sh: torchrun when --ngpu > 1);
# 4 embeddings of train and vox1 (exp/<tag>/embeddings/<set>/{x,i}vector.scp); 5 back-end
# (mean, LDA, PLDA, cohort from train) and scores of every trial list, method and
# normalisation; 6 EER and minDCF (p 0.01, 0.001) of each, DET plots, appended to RESULTS.md.
set -euo pipefail

stage=0
stop_stage=100
force=false
mini=false
mini_size=tiny
mini_root=
db_root=
nj=4
ngpu=0
nproc=1                  # CPU DDP processes when ngpu=0
cmd_backend=local
config=                  # default: --paper_config, or --mini_config with --mini true
paper_config=
mini_config=
tag=                     # experiment name (default: the config's file name)
train_sets=vox2_dev      # wespeaker: vox2_dev; kaldi: vox2_dev,vox2_test,vox1_dev; espnet: vox1_dev,vox2_dev
trials=auto              # auto (every list present) or a subset of O,E,H
musan_root=              # local MUSAN copy (musan/{noise,music,speech}) for augmentation
rirs_root=               # local RIRS_NOISES copy (simulated_rirs/)
backends="cosine plda"
score_norms="none asnorm"
top_n=300                # AS-norm cohort size
lda_dim=200
skip_bad=false
datadir=data
expdir=exp
dumpdir=dump
results=RESULTS.md
train_opts=              # extra options for the training entry point (e.g. "--train.epochs 5")
run_cmd=                 # the recipe's command line, for RESULTS.md

. ./path.sh
. utils/parse_options.sh
. ./cmd.sh
. ../../TEMPLATE/lib.sh

check_bool mini "$mini"
check_bool skip_bad "$skip_bad"
if [ -z "$config" ]; then config=$paper_config; [ "$mini" = true ] && config=$mini_config; fi
[ -n "$config" ] && [ -f "$config" ] || die "config '$config' does not exist"
tag=${tag:-$(basename "$config" .yaml)}
exp=$expdir/$tag
cpu_flag=; [ "$ngpu" -eq 0 ] && cpu_flag=--cpu
read -r model_name input feat_tag uses_vad augment < <(python - "$config" <<'EOF'
import hashlib, json, sys
from avdf.utils.config import load_config
c = load_config(sys.argv[1])
d = c.get("data") or {}
if "frontend" not in c:
    sys.exit(f"{sys.argv[1]}: no frontend: section")
vad = bool(d.get("vad", False))
key = json.dumps([c["frontend"], c.get("vad") if vad else None], sort_keys=True)
tag = f"{c['frontend']['name']}_{hashlib.md5(key.encode()).hexdigest()[:8]}"
aug = float((c.get("augment") or {}).get("prob", 0)) > 0
print("ivector" if "ivector" in c else c["model"]["name"], d.get("input", "feats"), tag,
      str(vad).lower(), str(aug).lower())
EOF
)
[ -n "${augment:-}" ] || die "cannot read $config"
kind=xvector; [ "$model_name" = ivector ] && kind=ivector

if [ "$mini" = true ]; then
  mini_root=${mini_root:-db/mini_${mini_size}}
  if stage_begin 0 "mini corpus ($mini_size)" ""; then
    # complete when its marker (written last) names this dataset
    if [ "$(cut -d' ' -f1 "$mini_root/.complete" 2>/dev/null)" != voxceleb ]; then
      python -m avdf.bin.make_mini_corpus --dataset voxceleb --size "$mini_size" --out "$mini_root"
    fi
  fi
  db_root=$mini_root
fi

check_source "$datadir" "$db_root" "--datadir, --dumpdir and --expdir"
prep_marker=$datadir/.done.prep_${train_sets//,/+}_${trials//,/+}
if stage_begin 1 "data preparation (train: $train_sets; trials: $trials)" "$prep_marker"; then
  [ -n "$db_root" ] || die "give --db_root /path/to/voxceleb (holding voxceleb1/ and/or voxceleb2/), or --mini true"
  rm -f "$datadir"/.done.prep_* "$datadir"/.done.feats_*
  python local/prepare_data.py --db_root "$db_root" --out "$datadir" --train_sets "$train_sets" \
    --trials "$trials" --skip_bad "$skip_bad"
  record_source "$datadir" "$db_root"
  stage_end "$prep_marker"
fi
trial_lists=$(for x in $(cat "$datadir/vox1/trial_sets" 2>/dev/null); do echo "$datadir/vox1/trials_$x"; done)

# features (and VAD) of a data dir into data/<set>_<feature tag>
make_feats() {
  local set=$1 d=$datadir/${1}_$feat_tag dump=$dumpdir/$feat_tag/$1 f
  mkdir -p "$d"
  for f in wav.scp utt2spk spk2utt spk2gender; do [ -f "$datadir/$set/$f" ] && cp "$datadir/$set/$f" "$d/$f"; done
  rm -f "$d/feats.scp" "$d/vad.scp" "$d/utt2num_frames"
  $train_cmd JOB=1:"$nj" "$dump/log/feats.JOB.log" python -m avdf.bin.compute_features --config "$config" \
    --data "$d" --out_dir "$dump" --nj "$nj" --job JOB --skip_bad "$skip_bad"
  python -m avdf.bin.compute_features --merge --data "$d" --out_dir "$dump" --nj "$nj"
  if [ -f "$d/bad_utts" ]; then utils/fix_data_dir.sh "$d"; fi
  if [ "$uses_vad" = true ]; then
    $train_cmd JOB=1:"$nj" "$dump/log/vad.JOB.log" python -m avdf.bin.compute_vad --config "$config" \
      --data "$d" --out_dir "$dump" --nj "$nj" --job JOB
    python -m avdf.bin.compute_vad --merge --data "$d" --out_dir "$dump" --nj "$nj"
  fi
}

sim_aug=$dumpdir/sim_augment
if stage_begin 2 "features ($feat_tag) of train and vox1" "$datadir/.done.feats_$feat_tag"; then
  for x in train vox1; do make_feats "$x"; done
  if [ "$augment" = true ] && [ -z "$musan_root$rirs_root" ] && [ "$mini" = true ]; then
    babble=$datadir/vox2_test; [ -f "$babble/wav.scp" ] || babble=$datadir/vox1_dev
    python local/make_sim_augment.py --out "$sim_aug" --speech_scp "$babble/wav.scp"
  fi
  stage_end "$datadir/.done.feats_$feat_tag"
fi
aug_args=()
if [ "$augment" = true ] && [ -z "$musan_root$rirs_root" ] && [ "$mini" = true ]; then
  musan_root=$sim_aug/musan; rirs_root=$sim_aug/RIRS_NOISES
fi
[ -n "$musan_root" ] && aug_args+=(--data "musan=$musan_root")
[ -n "$rirs_root" ] && aug_args+=(--data "rirs=$rirs_root")
train_data=$datadir/train_$feat_tag   # wav input reads its wav.scp (bad utterances fixed out in stage 2)

if stage_begin 3 "training $tag ($model_name)" "$exp/.done.train"; then
  mkdir -p "$exp/log"
  if [ "$kind" = ivector ]; then
    python -m avdf.bin.train_ivector --config "$config" --data "$train_data" --exp_dir "$exp" $cpu_flag \
      $train_opts 2>&1 | tee "$exp/log/train.log"
  else
    ../../TEMPLATE/launch.sh --ngpu "$ngpu" --nproc "$nproc" -- avdf.bin.train --config "$config" \
      --exp_dir "$exp" --train_data "$train_data" "${aug_args[@]}" $train_opts 2>&1 | tee "$exp/log/train.log"
  fi
  stage_end "$exp/.done.train"
fi

if stage_begin 4 "${kind}s of train and vox1" "$exp/embeddings/.done"; then
  for x in train vox1; do
    out=$exp/embeddings/$x
    $cuda_cmd JOB=1:"$nj" "$out/log/extract.JOB.log" python -m avdf.bin.extract_embeddings --exp_dir "$exp" \
      --data "$datadir/${x}_$feat_tag" --input feats --out_dir "$out" --nj "$nj" --job JOB --skip_bad "$skip_bad" $cpu_flag
    python -m avdf.bin.extract_embeddings --merge --exp_dir "$exp" --out_dir "$out" --nj "$nj"
  done
  stage_end "$exp/embeddings/.done"
fi

if stage_begin 5 "back-end and scoring ($backends; $score_norms)" "$exp/scores/.done"; then
  [ -n "$trial_lists" ] || die "no trial list in $datadir/vox1 (stage 1)"
  mkdir -p "$exp/scores"
  python -m avdf.bin.train_backend --embeddings "$exp/embeddings/train/$kind.scp" \
    --utt2spk "$datadir/train_$feat_tag/utt2spk" --out_dir "$exp/backend" --lda_dim "$lda_dim"
  python -m avdf.bin.score_asv --backend_dir "$exp/backend" --method $backends \
    --embeddings "$exp/embeddings/vox1/$kind.scp" --trials $trial_lists --out_dir "$exp/scores" \
    --score_norm $score_norms --top_n "$top_n" --skip_bad "$skip_bad" > "$exp/scores/score_files"
  stage_end "$exp/scores/.done"
fi

if stage_begin 6 "metrics of $tag" "$exp/scores/.done.metrics"; then
  while read -r scores; do
    name=$tag.$(basename "$scores" .txt)
    list=$(basename "$scores" .txt | cut -d_ -f2)
    md=${scores%.txt}.md
    trials_file=$datadir/vox1/trials_$list
    [ -f "${scores%.txt}.trials" ] && trials_file=${scores%.txt}.trials   # --skip_bad dropped some
    python -m avdf.bin.compute_metrics --task asv --scores "$scores" --data "$datadir/vox1" \
      --trials "$trials_file" --out_md "$md" --plot "$exp/scores/plots" --name "$name"
    {
      echo
      echo "### $name ($([ "$mini" = true ] && echo "mini corpus $mini_size: $db_root" || echo "$db_root"))"
      echo
      echo "- command: \`${run_cmd:-local/asv.sh}\`"
      echo "- date: $(date '+%Y-%m-%d %H:%M:%S %Z'); machine: $(machine_description)"
      echo "- config: \`$config\`; training sets: $train_sets; trial list: $(awk -v n="$list" '$1 == n {print $2 " (" $3 ")"}' "$datadir/vox1/trial_lists")"
      echo "- scores: \`$scores\`; DET plot: \`$exp/scores/plots/${name}_det.png\`"
      tail -n +2 "$md"   # compute_metrics' block without its heading
    } > "$results.tmp.$$"
    python -m avdf.bin.put_results --results "$results" --block "$results.tmp.$$" && rm -f "$results.tmp.$$"
  done < "$exp/scores/score_files"
  stage_end "$exp/scores/.done.metrics"
fi
log "done: $exp"
