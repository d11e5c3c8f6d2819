#include "tools/xent/SpecOptions.h"

namespace xent::tools {

void SpecOptions::add_to(CLI::App& command) {
  command.add_option("--dtype", dtype, "logits and gradient dtype: f32, bf16 or f16")->capture_default_str();
  command.add_option("--labels", labels, "label dtype: i32 or i64")->capture_default_str();
  command.add_option("--vocab", vocab, "global vocabulary size V")->capture_default_str();
  command.add_option("--vocab-shard", vocab_shard, "columns held by this rank (default: all of V)");
  command.add_option("--label-smoothing", label_smoothing, "label smoothing epsilon in [0, 1]")->capture_default_str();
  command.add_option("--z-loss", z_loss, "z-loss coefficient (>= 0)")->capture_default_str();
  command.add_option("--reduction", reduction, "none, sum or mean")->capture_default_str();
  command
      .add_option("--alignment", alignment, "rows (16-byte aligned rows), base (aligned tensor, rows anywhere) or none")
      ->capture_default_str();
  command.add_option("--shared-memory", shared_memory,
                     "bytes of shared memory a program may use on the target GPU (default: an H100's 227 KiB; ops "
                     "on a GPU use the device's)");
  command.add_option("--threads", threads, "threads per program, a multiple of 32 (default: heuristic)");
  command.add_option("--block", block, "columns per tile when streaming a row (default: heuristic)");
  command.add_option("--unroll", unroll, "tiles of a row loaded together per step, 1-8 (default: heuristic)");
  command.add_option(
      "--cluster", cluster,
      "fused kernel: programs sharing a row as a thread-block cluster, 1-16 (sm_90; default: heuristic)");
  command.add_option("--staging", staging,
                     "where the fused kernel's row waits for its gradient walk: global (re-read, mostly from L2) or "
                     "shared (copied once into shared memory; the statistics kernel stages its row too); default: "
                     "heuristic");
}

CrossEntropySpec SpecOptions::spec() const {
  CrossEntropySpec s;
  s.dtype = parse_dtype(dtype, "--dtype");
  s.label_type = parse_label_type(labels, "--labels");
  s.vocab = vocab;
  s.vocab_shard = vocab_shard ? vocab_shard : vocab;
  s.label_smoothing = label_smoothing;
  s.z_loss = z_loss;
  s.reduction = parse_reduction(reduction, "--reduction");
  s.alignment = parse_alignment(alignment, "--alignment");
  s.shared_memory = shared_memory;
  s.tuning.threads = threads;
  s.tuning.block = block;
  s.tuning.unroll = unroll;
  s.tuning.cluster = cluster;
  s.tuning.staging = parse_staging(staging, "--staging");
  s.validate();
  return s;
}

}  // namespace xent::tools
