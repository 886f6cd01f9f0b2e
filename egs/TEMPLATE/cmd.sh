# The job back-end, chosen by one variable: cmd_backend=local|slurm|sge.
# Recipes source this after utils/parse_options.sh, so `--cmd_backend slurm` works.
# Site options (partition, memory, GPUs) go in conf/slurm.conf / conf/queue.conf.
case "${cmd_backend:-local}" in
  local)
    train_cmd="utils/run.pl"
    cuda_cmd="utils/run.pl"
    decode_cmd="utils/run.pl";;
  slurm)
    train_cmd="utils/slurm.pl --mem 4G"
    cuda_cmd="utils/slurm.pl --mem 16G --gpu 1"
    decode_cmd="utils/slurm.pl --mem 8G";;
  sge)
    train_cmd="utils/queue.pl --mem 4G"
    cuda_cmd="utils/queue.pl --mem 16G --gpu 1"
    decode_cmd="utils/queue.pl --mem 8G";;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}'; use local, slurm or sge" >&2
    return 1 2>/dev/null || exit 1;;
esac
