#!/usr/bin/env bash
# Audio-visual deepfake detection on DFDC (egs/dfdc/av1): the fine-grained detector of
# Astrid et al. (BMVC 2024, conf/fgi.yaml) and the joint {2+1}-stream detector of Zhou and
# Lim (ICCV 2021, conf/joint_av.yaml).
#   ./run.sh --db_root /data/dfdc [--subset astrid] --config conf/fgi.yaml [--stage N] [--ngpu 1]
#   ./run.sh --mini true --mini_size small --config conf/fgi_mini.yaml      # offline mini corpus
# Stages: 0 mini corpus, 1 data dirs, 2 face/mouth crops + audio, 3 training, 4 scoring,
# 5 metrics -> RESULTS.md, 6 explanation PNGs.
set -euo pipefail

stage=0
stop_stage=100
force=false
mini=false
mini_size=tiny
mini_root=
db_root=
subset=default          # default (parts -> train/dev by identity, test/ -> test) | astrid
nj=4                    # parallel jobs of stages 2 and 4
ngpu=0
cmd_backend=local
config=conf/fgi.yaml
exp_name=               # default: the config's file name
train_args=             # extra training overrides, e.g. "--model.attention false"
perturb=                # stage 4/5: robustness test, e.g. gaussian,jpeg,h264
sync_contrast=          # stage 4/5: audio shifts (frames), e.g. 6,9,12: in-sync minus shifted logit
explain_num=2           # stage 6: this many fakes and reals
work=.                  # where data/, dump/, exp/ go
results=RESULTS.md      # stage 5 updates this file's section of the experiment

cmdline="./run.sh$(printf ' %q' "$@")"
. ./path.sh
. utils/parse_options.sh
. ./cmd.sh
. ../../TEMPLATE/lib.sh

check_bool mini "$mini"
[ -f "$config" ] || die "--config $config does not exist"
exp_name=${exp_name:-$(basename "$config" .yaml)}
data=$work/data
exp_dir=$work/exp/$exp_name
threads=$(( $(nproc) / nj > 0 ? $(nproc) / nj : 1 ))
cpu_flag=
[ "$ngpu" -eq 0 ] && cpu_flag=--cpu

if [ "$mini" = true ]; then
  db_root=${mini_root:-$work/db/mini_$mini_size}
  if stage_begin 0 "mini DFDC corpus ($mini_size) in $db_root" ""; then
    if [ "$(cut -d' ' -f1 "$db_root/.complete" 2>/dev/null)" = dfdc ]; then   # make_mini_corpus's marker
      log "$db_root is complete"
    else
      python -m avdf.bin.make_mini_corpus --dataset dfdc --out "$db_root" --size "$mini_size" --seed 0
    fi
  fi
fi
[ -n "$db_root" ] || die "give --db_root /path/to/dfdc (or --mini true)"

check_source "$data" "$db_root"
if stage_begin 1 "data dirs ($subset) from $db_root" "$data/.done.prep.$subset"; then
  python local/prepare_dfdc.py --db_root "$db_root" --out "$data" --subset "$subset"
  for s in train dev test; do
    [ -f "$data/$s/video.scp" ] && utils/validate_data_dir.sh "$data/$s"
  done
  rm -f "$data"/.done.prep.*
  record_source "$data" "$db_root"
  stage_end "$data/.done.prep.$subset"
fi

# The preprocessing is named after the config's preprocess: section, so configs that share
# it (ablations) share the crops.
tag=$(python -m avdf.bin.preprocess_av --config "$config" --print_tag)
pdata=$data/$tag
sets=$(for s in train dev test; do [ -f "$data/$s/video.scp" ] && echo $s; done)
if stage_begin 2 "face and mouth crops, audio ($tag)" "$pdata/.done"; then
  for s in $sets; do
    dump=$work/dump/$tag/$s
    $train_cmd JOB=1:$nj "$dump/log/preprocess.JOB.log" \
      python -m avdf.bin.preprocess_av --config "$config" --data "$data/$s" --out_dir "$dump" \
        --nj $nj --job JOB --num_threads $threads
    python -m avdf.bin.preprocess_av --merge --data "$data/$s" --out_dir "$dump" --out_data "$pdata/$s" --nj $nj
    utils/validate_data_dir.sh "$pdata/$s"
    [ -f "$pdata/$s/bad_utts" ] && log "$s: $(wc -l < "$pdata/$s/bad_utts") videos left out (reasons in $pdata/$s/bad_utts)"
  done
  stage_end "$pdata/.done"
fi

valid=$pdata/dev
[ -f "$valid/faces.scp" ] || { valid=$pdata/train; log "no dev set: model selection on the training set"; }
if stage_begin 3 "training $exp_name" "$exp_dir/.done.train"; then
  # shellcheck disable=SC2086
  $cuda_cmd --gpu $ngpu "$exp_dir/log/train.log" \
    ../../TEMPLATE/launch.sh --ngpu $ngpu -- avdf.bin.train --config "$config" --exp_dir "$exp_dir" \
      --train_data "$pdata/train" --valid_data "$valid" $train_args
  stage_end "$exp_dir/.done.train"
fi

suffix=${perturb:+_${perturb//,/_}}${sync_contrast:+_sc${sync_contrast//,/_}}
scores=$exp_dir/scores/test$suffix.txt
if stage_begin 4 "scoring the test set${perturb:+ (perturbed: $perturb)}${sync_contrast:+ (sync contrast $sync_contrast)}" \
    "$exp_dir/scores/.done.test$suffix"; then
  $cuda_cmd --gpu $ngpu JOB=1:$nj "$exp_dir/log/infer$suffix.JOB.log" \
    python -m avdf.bin.infer_av --exp_dir "$exp_dir" --data "$pdata/test" --out "$scores" --nj $nj --job JOB \
      ${perturb:+--perturb $perturb} ${sync_contrast:+--sync_contrast $sync_contrast} --num_threads $threads $cpu_flag
  python -m avdf.bin.infer_av --merge --out "$scores" --nj $nj
  stage_end "$exp_dir/scores/.done.test$suffix"
fi

if stage_begin 5 "metrics -> $results" "$exp_dir/scores/.done.metrics$suffix"; then
  python -m avdf.bin.compute_metrics --task av --scores "$scores" --data "$pdata/test" \
    --out_md "${scores%.txt}.md" --plot "$exp_dir/scores/plots$suffix" --name "$exp_name$suffix"
  python local/update_results.py --results "$results" --name "$exp_name$suffix" --block "${scores%.txt}.md" \
    --command "$cmdline" --machine "$(machine_description)" --config "$config" --exp_dir "$exp_dir"
  stage_end "$exp_dir/scores/.done.metrics$suffix"
fi

if stage_begin 6 "explanations" "$exp_dir/explain/.done"; then
  python -m avdf.bin.explain_av --exp_dir "$exp_dir" --data "$pdata/test" \
    --chunks "$exp_dir/scores/test.chunks.txt" --out_dir "$exp_dir/explain" --num $explain_num
  stage_end "$exp_dir/explain/.done"
fi
log "done: $exp_dir"
