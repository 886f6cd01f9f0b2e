#!/usr/bin/env bash
# FakeAVCeleb v1.2 (egs/fakeavceleb/av1): audio-visual deepfake detection in-dataset
# (identity-disjoint folds) and cross-dataset (a model of egs/dfdc/av1 on the published
# 70 real / 70 fake test set), and linear probes / an anomaly proxy on self-supervised
# representations (Boldisor et al.).
#   ./run.sh --db_root /data/FakeAVCeleb_v1.2 [--dfdc_exp ../../dfdc/av1/exp/fgi] \
#       --ssl_ckpt_dir /models/ssl [--stage N] [--ngpu 1]
#   ./run.sh --mini true --mini_size small            # offline mini corpus (random-init SSL controls)
# Stages: 0 mini corpus, 1 data dirs, 2 face/mouth crops + audio (the DFDC recipe's
# preprocessing), 3 in-dataset training per fold + cross-dataset scoring, 4 SSL features,
# probes and anomaly proxy, 5 metrics, correlations, fusion, plots -> RESULTS.md.
set -euo pipefail
cmdline="./run.sh$(printf ' %q' "$@")"   # for RESULTS.md, quoted so that it can be pasted back

stage=0
stop_stage=100
force=false
mini=false
mini_size=tiny
mini_root=
db_root=
nj=4                    # parallel jobs of stages 2, 3 (scoring) and 4 (extraction)
ngpu=0
cmd_backend=local
seed=0                  # fold assignment
nfolds=5
folds=                  # folds to train and score (default: 1 .. nfolds)
fold_subset=balanced    # balanced: one video per identity and category (MRDF); all: every video
models="fgi joint_av"   # in-dataset models: conf/<model><model_suffix>.yaml (the DFDC recipe's configs)
model_suffix=           # e.g. _tiny for conf/fgi_tiny.yaml
train_args=             # extra training overrides for the in-dataset models
dfdc_exp=               # an experiment of egs/dfdc/av1 (config.yaml + model.pt): cross-dataset scoring
ssl_reps="wav2vec2_base hubert_base wavlm_base resnet18 r2plus1d_18"   # conf/ssl/<rep>.yaml
ssl_ckpt_dir=           # <rep>.pt state_dicts (or <rep>/ transformers folders); local files only
ssl_random_init=false   # true: random-initialisation controls instead (no pretrained weights offline)
ssl_preprocess=         # config whose preprocessing the SSL encoders read (default: the first model's)
probe_config=conf/probe/linear.yaml
anomaly_config=conf/probe/anomaly.yaml
fusion_l2=0.001         # stage 5: L2 penalty of the fusion (finite weights on small, separable validation sets)
plot_per_group=1        # stage 5: per-frame score plots of this many videos per category (first fold)
work=.                  # where data/, dump/, exp/ go
results=RESULTS.md      # stage 5 writes this run's section here

. ./path.sh
. utils/parse_options.sh
. ./cmd.sh
. ../../TEMPLATE/lib.sh

check_bool mini "$mini"
check_bool ssl_random_init "$ssl_random_init"
data=$work/data
exp=$work/exp
folds=${folds:-$(seq -s ' ' 1 "$nfolds")}
threads=$(( $(nproc) / nj > 0 ? $(nproc) / nj : 1 ))
cpu_flag=
[ "$ngpu" -eq 0 ] && cpu_flag=--cpu
splits="test"
for k in $folds; do splits="$splits fold$k/train fold$k/valid fold$k/test"; done
model_confs=$(for m in $models; do echo "conf/$m$model_suffix.yaml"; done)
for c in $model_confs; do [ -f "$c" ] || die "$c does not exist (--models, --model_suffix)"; done
ssl_preprocess=${ssl_preprocess:-$(echo "$model_confs" | head -1)}
[ -n "$ssl_reps" ] && [ -z "$ssl_preprocess" ] && die "--ssl_preprocess CONF is needed when --models is empty"
[ -z "$dfdc_exp" ] || [ -f "$dfdc_exp/config.yaml" ] || die "--dfdc_exp $dfdc_exp has no config.yaml"
# the preprocessing of each config is named by its tag (avdf.bin.preprocess_av --print_tag)
declare -A tags
for c in $model_confs $ssl_preprocess ${dfdc_exp:+$dfdc_exp/config.yaml}; do
  [ -n "${tags[$c]:-}" ] || tags[$c]=$(python -m avdf.bin.preprocess_av --config "$c" --print_tag)
done

# subset_splits SRC DEST_ROOT: the data/<split> utterances of SRC as DEST_ROOT/<split>
subset_splits() {
  local split
  for split in $splits; do
    cut -d' ' -f1 "$data/$split/utt2spk" > "$1/.utts"
    utils/subset_data_dir.sh --utt-list "$1/.utts" "$1" "$2/$split" >/dev/null
  done
  rm -f "$1/.utts"
}

lists=local/lists        # the published 70/70 test list
if [ "$mini" = true ]; then
  mini_dir=${mini_root:-$work/db/mini_$mini_size}
  if stage_begin 0 "mini FakeAVCeleb corpus ($mini_size) in $mini_dir" ""; then
    if python -c "import sys; from avdf.bin.make_mini_corpus import is_complete; sys.exit(0 if is_complete('$mini_dir', 'fakeavceleb') else 1)"; then
      log "$mini_dir is complete"
    else
      python -m avdf.bin.make_mini_corpus --dataset fakeavceleb --out "$mini_dir" --size "$mini_size" --seed 0
    fi
  fi
  db_root=$mini_dir/FakeAVCeleb_v1.2
  lists=$mini_dir/lists  # the mini corpus ships a 70/70-style list of its own videos
fi
[ -n "$db_root" ] || die "give --db_root /path/to/FakeAVCeleb_v1.2 (or --mini true)"

check_source "$data" "$db_root"
if stage_begin 1 "data dirs from $db_root" "$data/.done.prep"; then
  python local/data_prep.py --db_root "$db_root" --data "$data" --nfolds "$nfolds" --seed "$seed" --fold_subset "$fold_subset" \
    --test_real "$lists/fakeavceleb_test_real.txt" --test_fake "$lists/fakeavceleb_test_fake.txt"
  record_source "$data" "$db_root"
  stage_end "$data/.done.prep"
fi

# Stage 2 is the DFDC recipe's preprocessing (avdf.bin.preprocess_av), once per distinct
# preprocess: section: the selected videos (folds + test) for the in-dataset models and the
# SSL encoders, the 70/70 test set for the DFDC model.
pre_jobs=$(for c in $model_confs $ssl_preprocess; do echo "$c selected"; done | sort -u)
[ -n "$dfdc_exp" ] && pre_jobs="$pre_jobs
$dfdc_exp/config.yaml test"
declare -A with_selected
while read -r conf src; do
  [ -n "$conf" ] || continue
  tag=${tags[$conf]}
  # the test set of a preprocessing already run on the selected videos is a subset of them
  [ "$src" = test ] && [ -n "${with_selected[$tag]:-}" ] && continue
  [ "$src" = selected ] && with_selected[$tag]=1
  if stage_begin 2 "crops and audio of data/$src ($tag)" "$data/$tag/.done.$src"; then
    dump=$work/dump/$tag/$src
    $train_cmd JOB=1:$nj "$dump/log/preprocess.JOB.log" \
      python -m avdf.bin.preprocess_av --config "$conf" --data "$data/$src" --out_dir "$dump" \
        --nj $nj --job JOB --num_threads $threads
    python -m avdf.bin.preprocess_av --merge --data "$data/$src" --out_dir "$dump" --out_data "$data/$tag/$src" --nj $nj
    [ "$src" = selected ] && subset_splits "$data/$tag/selected" "$data/$tag"
    [ -f "$data/$tag/$src/bad_utts" ] && log "$src: $(wc -l < "$data/$tag/$src/bad_utts") videos left out ($data/$tag/$src/bad_utts)"
    stage_end "$data/$tag/.done.$src"
  fi
done <<< "$pre_jobs"

# score EXP DATA OUT: video-level scores of a trained audio-visual model (avdf.bin.infer_av)
score() {
  $cuda_cmd --gpu $ngpu JOB=1:$nj "$(dirname "$3")/log/infer.JOB.log" \
    python -m avdf.bin.infer_av --exp_dir "$1" --data "$2" --out "$3" --nj $nj --job JOB --num_threads $threads $cpu_flag
  python -m avdf.bin.infer_av --merge --out "$3" --nj $nj
}

for conf in $model_confs; do
  name=$(basename "$conf" .yaml)
  pdata=$data/${tags[$conf]}
  for k in $folds; do
    e=$exp/${name}_fold$k
    if stage_begin 3 "$name, fold $k: training and scoring" "$e/.done"; then
      # shellcheck disable=SC2086
      $cuda_cmd --gpu $ngpu "$e/log/train.log" \
        ../../TEMPLATE/launch.sh --ngpu $ngpu -- avdf.bin.train --config "$conf" --exp_dir "$e" \
          --train_data "$pdata/fold$k/train" --valid_data "$pdata/fold$k/valid" $train_args
      score "$e" "$pdata/fold$k/test" "$e/scores/test.txt"
      stage_end "$e/.done"
    fi
  done
done
if [ -n "$dfdc_exp" ]; then
  e=$exp/cross_dfdc_$(basename "$dfdc_exp")
  if stage_begin 3 "cross-dataset: $dfdc_exp on the 70/70 test set" "$e/.done"; then
    score "$dfdc_exp" "$data/${tags[$dfdc_exp/config.yaml]}/test" "$e/scores/test.txt"
    echo "$dfdc_exp" > "$e/dfdc_exp"
    stage_end "$e/.done"
  fi
fi

[ -z "$ssl_reps" ] || ssl_pdata=$data/${tags[$ssl_preprocess]}
for rep in $ssl_reps; do
  conf=conf/ssl/$rep.yaml
  [ -f "$conf" ] || die "$conf does not exist (--ssl_reps)"
  sdata=$data/ssl/$rep
  if stage_begin 4 "$rep: frame features" "$sdata/.done"; then
    if [ "$ssl_random_init" = true ]; then
      ckpt=$exp/ssl_init/$rep.pt
      python -m avdf.bin.init_ssl_checkpoint --config "$conf" --out "$ckpt" --seed "$seed"
    else
      [ -n "$ssl_ckpt_dir" ] || die "give --ssl_ckpt_dir DIR with $rep.pt (or --ssl_random_init true)"
      ckpt=$ssl_ckpt_dir/$rep.pt
      [ -d "$ssl_ckpt_dir/$rep" ] && ckpt=$ssl_ckpt_dir/$rep   # a transformers folder
    fi
    $train_cmd JOB=1:$nj "$work/dump/ssl/$rep/log/extract.JOB.log" \
      python -m avdf.bin.extract_ssl --config "$conf" --encoder.checkpoint "$ckpt" --data "$ssl_pdata/selected" \
        --preprocess_config "$ssl_preprocess" --out_dir "$work/dump/ssl/$rep" --nj $nj --job JOB \
        --num_threads $threads $cpu_flag
    python -m avdf.bin.extract_ssl --merge --data "$ssl_pdata/selected" --out_dir "$work/dump/ssl/$rep" \
      --out_data "$sdata/selected" --nj $nj
    subset_splits "$sdata/selected" "$sdata"
    stage_end "$sdata/.done"
  fi
  for k in $folds; do
    lin=$exp/probe/${rep}_linear_fold$k
    ano=$exp/probe/${rep}_anomaly_fold$k
    if stage_begin 4 "$rep, fold $k: linear probe and anomaly proxy" "$lin/.done"; then
      ../../TEMPLATE/launch.sh --ngpu $ngpu -- avdf.bin.train --config "$probe_config" --exp_dir "$lin" \
        --train_data "$sdata/fold$k/train" --valid_data "$sdata/fold$k/valid"
      python -m avdf.bin.fit_anomaly --config "$anomaly_config" --train_data "$sdata/fold$k/train" --exp_dir "$ano"
      for e in $lin $ano; do
        python -m avdf.bin.score_probe --exp_dir "$e" --data "$sdata/fold$k/valid" "$sdata/fold$k/test" \
          --out_dir "$e/scores" --frame_scores $cpu_flag
      done
      stage_end "$lin/.done"
    fi
  done
done

if stage_begin 5 "metrics, correlations, fusion, plots -> $results" ""; then
  metrics() {  # SCORES DATA NAME
    python -m avdf.bin.compute_metrics --task av --scores "$1" --data "$2" --name "$3" \
      --out_md "${1%.txt}.md" > /dev/null
  }
  # each system is scored against the data dir it scored (videos left out by the
  # preprocessing are listed in its bad_utts and reported in RESULTS.md)
  for conf in $model_confs; do
    name=$(basename "$conf" .yaml)
    pdata=$data/${tags[$conf]}
    for k in $folds; do metrics "$exp/${name}_fold$k/scores/test.txt" "$pdata/fold$k/test" "${name}_fold$k"; done
  done
  if [ -n "$dfdc_exp" ]; then
    metrics "$exp/cross_dfdc_$(basename "$dfdc_exp")/scores/test.txt" "$data/${tags[$dfdc_exp/config.yaml]}/test" \
      "cross_dfdc_$(basename "$dfdc_exp")"
  fi
  for k in $folds; do
    systems=() fused=()
    for rep in $ssl_reps; do
      for kind in linear anomaly; do
        e=$exp/probe/${rep}_${kind}_fold$k
        metrics "$e/scores/test.txt" "$data/ssl/$rep/fold$k/test" "${rep}_${kind}_fold$k"
        systems+=("${rep}_$kind=$e/scores/test.txt")
      done
    done
    # logistic-regression fusion of every pair of linear probes, trained on the validation split
    reps=($ssl_reps)
    for ((i = 0; i < ${#reps[@]}; i++)); do
      for ((j = i + 1; j < ${#reps[@]}; j++)); do
        a=${reps[i]}_linear b=${reps[j]}_linear
        out=$exp/probe/fusion_fold$k/$a+$b.txt
        python -m avdf.bin.fuse --train "$exp/probe/${a}_fold$k/scores/valid.txt" "$exp/probe/${b}_fold$k/scores/valid.txt" \
          --train_data "$data/ssl/${reps[i]}/fold$k/valid" --apply "$exp/probe/${a}_fold$k/scores/test.txt" \
          "$exp/probe/${b}_fold$k/scores/test.txt" --out "$out" --l2 "$fusion_l2" > /dev/null
        fused+=("$a+$b=$out")
      done
    done
    if [ ${#systems[@]} -gt 0 ]; then
      python -m avdf.bin.compare_scores --data "$data/fold$k/test" --scores "${systems[@]}" \
        ${fused[@]:+--fused "${fused[@]}"} --out_json "$exp/probe/compare_fold$k.json" > /dev/null
    fi
  done
  first=${folds%% *}
  if [ -n "$ssl_reps" ]; then
    frame_systems=$(for rep in $ssl_reps; do for kind in linear anomaly; do
      echo "${rep}_$kind=$exp/probe/${rep}_${kind}_fold$first/scores/test.frames.txt"; done; done)
    # shellcheck disable=SC2086
    python -m avdf.bin.plot_frame_scores --data "$data/fold$first/test" --scores $frame_systems \
      --out_dir "$exp/probe/plots_fold$first" --per_group "$plot_per_group" > /dev/null
  fi
  python local/make_results.py --results "$results" --exp "$exp" --data "$data" --models "$(echo $model_confs)" \
    --folds "$folds" --ssl_reps "$ssl_reps" ${dfdc_exp:+--dfdc_exp "$dfdc_exp"} --command "$cmdline" \
    --machine "$(machine_description)" --name "$([ "$mini" = true ] && echo "mini_$mini_size" || echo full)" \
    --ssl_random_init "$ssl_random_init" --ssl_ckpt_dir "$ssl_ckpt_dir"
fi
log "done: $results"
